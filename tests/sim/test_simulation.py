"""The simulator runs the core through seeded faults and checks the Parliament's properties.

Default run: 600 seeds x 500 steps with every fault on (about 40 s on 2 cores).  ``-m soak``
runs 100,000; ``python tests/sim/simulator.py --seeds 0:2000 --jobs 2`` any range.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from faulty import EagerPriest, ForgetfulPriest, HastyPriest, HeedlessPriest, ShortQuorumPriest
from simulator import Churn, Faults, Simulation, Violation, run_parallel

from paxos_redis.protocol import Rules

HERE = Path(__file__).parent
JOBS = min(2, os.cpu_count() or 1)
#: seeds of the default all-faults run
SEEDS = 600


def report(totals: dict[str, int]) -> None:
    print("simulation totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()))


def test_six_hundred_seeds_five_hundred_steps_all_faults() -> None:
    totals = run_parallel(0, SEEDS, steps=500, priests=5, jobs=JOBS)
    report(totals)
    assert totals["seeds"] == SEEDS
    assert totals["steps"] >= SEEDS * 500
    # every kind of fault really happened, and work got done through them
    for fault in ("lost", "duplicated", "crashes", "wipes", "partitions", "rivals", "joins",
                  "leaves", "replacements", "duplicates_refused", "moves", "old_copies_caught",
                  "answered_from_law"):
        assert totals[fault] > 0, fault
    assert totals["changes_made"] > SEEDS              # membership changed by decree, a lot
    assert totals["decrees"] > SEEDS * 50


@pytest.mark.parametrize("priests", [1, 2, 3, 4])
def test_other_parliament_sizes(priests: int) -> None:
    totals = run_parallel(10_000, 10_100, steps=300, priests=priests, jobs=1)
    assert totals["seeds"] == 100 and totals["petitions"] > 0


def test_no_faults_every_petition_passes_quickly() -> None:
    sim = Simulation(1, steps=200, faults=Faults(loss=0, duplicate=0, crash=0, partition=0,
                                                  rival=0, wipe=0)).run()
    assert sim.counts["crashes"] == 0 and not sim.outstanding
    assert len(sim.given) > 50
    top = max(sim.given.values())
    laws = {tuple(n.priest.law.read(0, top + 1)) for n in sim.nodes if n.priest}
    assert len(laws) == 1 and len(next(iter(laws))) == top + 1
    assert sim.counts["compactions"] > 0                # read back through the archives


def test_the_law_window_and_compaction_are_exercised() -> None:
    """Every seed runs with a 3-decree law window and compacts all the time, so catch-up
    of decrees older than the window and restarts after compaction happen throughout."""
    totals = run_parallel(0, 100, steps=500, priests=5, jobs=1)
    assert totals["compactions"] > 100 * 50
    sims = [Simulation(seed).run() for seed in range(20)]
    for sim in sims:                        # the law passed since the last compaction goes too
        sim.faults.crash = 0
        for node in sim.nodes:
            sim.compact(node)
    floors = [n.priest.law.floor for sim in sims for n in sim.nodes if n.priest]
    assert min(floors) > 20 and all(len(n.priest.law.decrees) < 40
                                    for sim in sims for n in sim.nodes if n.priest)


def test_with_a_dedup_window_longer_than_the_run_no_petition_ever_passes_twice() -> None:
    rules = Rules(window=8, batch=4, resend_ticks=2, inquiry_ticks=2, retry_ticks=3,
                  president_ticks=6, law_memory=3, dedup_window=10**6)
    late = sum(Simulation(seed, rules=rules).run().counts["late_copies"] for seed in range(60))
    assert late == 0


@pytest.mark.soak
def test_soak_one_hundred_thousand_seeds() -> None:
    totals = run_parallel(0, 100_000, steps=500, priests=5, jobs=JOBS)
    report(totals)
    assert totals["seeds"] == 100_000


# ---------------------------------------------------------------- the checks can fail

def first_violation(priest_class: type, seeds: int = 2000, *, safety_only: bool = False,
                    **kwargs: object) -> str:
    """The first violation a broken priest causes; ``safety_only`` passes over seeds whose
    run only failed to settle (a priest that breaks safety may break liveness first)."""
    for seed in range(seeds):
        try:
            Simulation(seed, priest_class=priest_class, **kwargs).run()  # type: ignore[arg-type]
        except Violation as exc:
            if not (safety_only and "liveness:" in str(exc)):
                return str(exc)
    return ""


def test_catches_a_priest_that_forgets_to_persist_its_promise() -> None:
    found = first_violation(ForgetfulPriest)
    assert "sent last vote" in found and "durable promise" in found, found


def test_catches_a_president_that_ignores_b3() -> None:
    found = first_violation(HeedlessPriest, safety_only=True, liveness_bound=3000)
    assert "two decrees passed" in found, found


def test_catches_quorums_one_short() -> None:
    found = first_violation(ShortQuorumPriest)
    assert "two decrees passed" in found, found


def test_violation_prints_a_command_that_replays_it() -> None:
    found = first_violation(ShortQuorumPriest)
    seed = int(found.split()[1])
    assert f"replay: python tests/sim/simulator.py --seed {seed}" in found
    replay = subprocess.run([sys.executable, str(HERE / "simulator.py"), "--seed", str(seed)],
                            capture_output=True, text=True, timeout=120)
    # the correct core passes the seed that the broken one failed
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "0 violations" in replay.stdout


# ---------------------------------------------------------------- membership's checks can fail

def first_violation_of(variant: type[Simulation], rates: tuple[float, ...] | None = None,
                       seeds: int = 2000, **kwargs: object) -> str:
    """The first safety violation a run of ``variant`` (made with ``kwargs``) finds, with
    membership changes at ``rates`` (see changes.py) if given instead of the default ones."""
    for seed in range(seeds):
        sim = variant(seed, **kwargs)  # type: ignore[arg-type]
        if rates is not None:
            sim.rates = rates
        try:
            sim.run()
        except Violation as exc:
            if "liveness:" not in str(exc):
                return str(exc)
    return ""


def test_catches_a_priest_that_votes_from_an_old_copy_of_its_ledger() -> None:
    class Careless(Simulation):
        check_stamps = False
    found = first_violation_of(Careless, (0.03, 0.01, 0.01, 0.01, 0.05, 0.05))
    assert "two decrees passed" in found, found


def test_catches_a_priest_back_under_its_identity_with_an_empty_ledger() -> None:
    class Amnesiac(Simulation):
        new_identity = False
    found = first_violation_of(Amnesiac, (0.03, 0.01, 0.05, 0.01, 0.0, 0.0))
    assert "two decrees passed" in found, found


# A change that takes effect at once, or two changes in flight, is safe as long as
# two presidents' views of a decree number's membership are at most one change apart.
# Churn (see simulator.py) replaces members that are down, and they come back.

@pytest.mark.parametrize(("variant", "alpha"), [(HastyPriest, 2), (EagerPriest, 256)],
                         ids=["takes_effect_at_once", "two_changes_in_flight"])
def test_catches_a_faulty_membership_rule(variant: type, alpha: int) -> None:
    found = first_violation_of(Churn, priest_class=variant, alpha=alpha)
    assert "two decrees passed" in found, found
    Churn(int(found.split()[1]), alpha=alpha).run()     # the correct core passes that seed


@pytest.mark.parametrize("alpha", [2, 256])
def test_membership_churn_on_the_correct_core(alpha: int) -> None:
    """The scenario finds nothing wrong with the real rules, over more seeds than either
    variant needs (the README gives longer runs)."""
    totals = run_parallel(0, 60, churn=True, alpha=alpha, jobs=JOBS, size=30)
    assert totals["seeds"] == 60
    assert totals["changes_made"] > 60 and totals["back_removed"] > 0


def test_a_late_promiser_that_knows_more_law_is_not_outvoted() -> None:
    """Seed 1284 of --churn at alpha 2 once passed a petition and an olive day at decree 52:
    the president proposed below the law a late promiser knew, and that priest voted there."""
    Churn(1284, alpha=2).run()
