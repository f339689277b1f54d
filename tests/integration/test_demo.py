"""``paxos-redis demo``: the whole show on the embedded messengers, its checks, its cleanup."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from processes import clean_env, cli_command, processes_using

from paxos_redis.protocol import Decree
from paxos_redis.protocol.membership import ALPHA, CHANGE, Change, Founding, name
from paxos_redis.protocol.records import Identity, Passed
from paxos_redis.storage.ledger import law_lines, replay
from paxos_redis.tools.demo import (
    Changes,
    Failover,
    Tally,
    Verdict,
    check_laws,
    check_membership,
    check_petitions,
    percentile,
    summary,
)
from paxos_redis.tools.demo_report import law_with_members

cli, env = cli_command, clean_env


def wait_gone(ledger_dir: Path, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_using(ledger_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# ------------------------------------------------------------------ the real thing

HEX = r"[0-9a-f]{12}"


def test_demo_on_embedded_fakeredis_passes_every_check(tmp_path: Path) -> None:
    ledgers = tmp_path / "ledgers"
    result = subprocess.run([*cli(), "demo", "--quiet", "--petitions", "300",
                             "--ledger-dir", str(ledgers)],
                            env=env(), capture_output=True, text=True, timeout=150,
                            stdin=subprocess.DEVNULL)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr
    lines = out.splitlines()
    assert lines[0].startswith("demo: 5 priests, 300 petitions from 4 citizens"), out
    assert lines[-1] == "result: ok", out
    failover = re.search(rf"^failover: president ({HEX}) killed \(SIGKILL\) after \d+ "
                         rf"petitions; new president ({HEX}) after ([\d.]+) s", out, re.M)
    assert failover and failover[1] != failover[2], out
    assert re.search(rf"^restart: .* took back its identity {failover[1]} from its ledger$", out,
                     re.M)
    joined = re.search(rf"^join: priest ({HEX}) joined as a listener, caught up, and was "
                       rf"admitted by the decree at (\d+), voting from decree (\d+)$", out, re.M)
    left = re.search(rf"^leave: priest ({HEX}) left; removed by the decree at (\d+) \(the "
                     rf"others vote without it from decree (\d+)\)$", out, re.M)
    assert joined and left, out
    assert int(joined[3]) == int(joined[2]) + ALPHA and int(left[3]) == int(left[2]) + ALPHA
    assert int(left[2]) >= int(joined[3])                # one change at a time
    assert "law: 303 decrees: 1 founding, 2 changes of membership" in out
    assert re.search(rf"^agreement: ok: 6/6 ledgers agree on the law of 303 decrees; {left[1]}, "
                     r"which left, holds its first \d+$", out, re.M), out
    assert "petitions: ok: 300 passed once each, 0 lost, 0 passed twice" in out
    throughput = re.search(r"^throughput: ([\d.]+) petitions/s .*p50 ([\d.]+) ms, "
                           r"p99 ([\d.]+) ms$", out, re.M)
    assert throughput and float(throughput[1]) > 0, out
    assert 0 < float(throughput[2]) <= float(throughput[3]), out
    # the summary is not taken on trust: read the ledgers it left behind
    paths = {p.name.split("-")[-1].removesuffix(".ledger"): p for p in ledgers.glob("*.ledger")}
    records = {who: replay(p, p.read_bytes())[0] for who, p in paths.items()}
    laws = {who: law_lines(r) for who, r in records.items()}
    assert len(laws) == 6 and joined[1] in laws and left[1] in laws
    sitting = [law for who, law in laws.items() if who != left[1]]
    assert all(law == sitting[0] for law in sitting) and len(sitting[0]) == 300
    assert sitting[0][:len(laws[left[1]])] == laws[left[1]] and len(laws[left[1]]) < 300
    passed = {n: d for r in records[joined[1]] if isinstance(r, Passed) for n, d in r.entries}
    founding = Founding.parse(passed[0])
    assert left[1] in map(name, founding.members) and joined[1] not in map(name, founding.members)
    changes = {n: Change.parse(d) for n, d in passed.items() if d.petition.startswith(CHANGE)}
    assert changes == {int(joined[2]): Change("admit", int(joined[1], 16)),
                       int(left[2]): Change("remove", int(left[1], 16))}
    assert wait_gone(ledgers) == [], "the demo left processes running"


def test_demo_cleans_up_every_process_when_interrupted(tmp_path: Path) -> None:
    ledgers = tmp_path / "ledgers"
    # A shell runs background jobs with SIGINT ignored, and Python keeps an ignored SIGINT:
    # give the demo the terminal's default, as Ctrl-C would find it.
    demo = subprocess.Popen([*cli(), "demo", "--quiet", "--petitions", "100000",
                             "--ledger-dir", str(ledgers)], env=env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while len(list(ledgers.glob("*.ledger"))) < 5 or len(processes_using(ledgers)) < 6:
            assert demo.poll() is None, demo.communicate()
            assert time.monotonic() < deadline, "the demo never started its parliament"
            time.sleep(0.1)
        demo.send_signal(signal.SIGINT)                 # Ctrl-C, to the demo alone
        _, err = demo.communicate(timeout=30)
        assert demo.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert wait_gone(ledgers) == [], "the demo left processes running after Ctrl-C"


# ------------------------------------------------------------------ the checks themselves

A, B, C, D = "00000000000a", "00000000000b", "00000000000c", "00000000000d"


def test_disagreeing_laws_fail_the_agreement_check() -> None:
    verdict = Verdict()
    check_laws({A: ["0,a", "1,b"], B: ["0,a", "1,c"], C: ["0,a", "1,b"]}, verdict)
    assert not verdict.ok
    assert verdict.disagreements == [f"laws differ: priest {B} has '1,c' where priest {A} has "
                                     "'1,b'"]
    assert verdict.agreeing == 2 and verdict.ledgers == 3


def test_a_priest_behind_or_unreadable_fails_the_agreement_check() -> None:
    verdict = Verdict()
    check_laws({A: ["0,a"], B: ["0,a", "1,b"], C: "ledger x is corrupt"}, verdict)
    assert verdict.disagreements == [f"priest {C}: ledger x is corrupt",
                                     f"priest {A} is behind: its ledger holds 1 of 2 decrees "
                                     "(it agrees on all it holds)"]


def test_a_priest_that_left_may_be_behind_but_must_agree() -> None:
    verdict = Verdict()
    check_laws({A: ["0,a"], B: ["0,a", "1,b"], C: ["0,a", "1,b"]}, verdict, left=[A])
    assert verdict.ok and verdict.agreeing == 3 and verdict.behind == {A: 1}
    assert verdict.law == ["0,a", "1,b"]
    verdict = Verdict()          # longer than the others: still not the reference, and wrong
    check_laws({A: ["0,a", "1,b", "2,x"], B: ["0,a", "1,b"], C: ["0,a", "1,b"]}, verdict,
               left=[A])
    assert verdict.law == ["0,a", "1,b"]
    assert verdict.disagreements == [f"laws differ: priest {A} has '2,x' where priest {B} has "
                                     "nothing"]
    verdict = Verdict()
    check_laws({A: ["0,a", "1,c"], B: ["0,a", "1,b"], C: ["0,a", "1,b"]}, verdict, left=[A])
    assert verdict.disagreements == [f"laws differ: priest {A} has '1,c' where priest {B} has "
                                     "'1,b'"]


def test_identical_laws_pass() -> None:
    verdict = Verdict()
    check_laws({f"{s:012x}": ["0,a", "2,b"] for s in range(1, 6)}, verdict)
    assert verdict.ok and verdict.agreeing == 5 and verdict.law == ["0,a", "2,b"]


def test_the_law_read_for_the_checks_shows_the_membership_decrees_in_place() -> None:
    founding = Founding("g1", 4, (10, 11, 12)).decree()
    records = [Identity("p", 10),
               Passed(((0, founding), (1, Decree("c1", b"x")),
                       (2, Change("admit", 13).decree("n1")), (3, Decree("c2", b"y")))),
               Passed(((7, Change("remove", 10).decree("n2")),))]
    law = law_with_members(records)
    assert law == [f"0,founding: alpha=4 members={A},{B},{C}", "1,x",
                   f"2,membership: admit {D}", "3,y", f"7,membership: remove {A}"]
    changes = Changes(founders=(C, A, B), joined=D, admitted_at=2, left=A, removed_at=7)
    verdict = Verdict(law=law)
    check_membership(verdict, changes)
    assert verdict.ok
    verdict = Verdict(law=law)
    check_membership(verdict, Changes(founders=(A, B), joined=D, admitted_at=3, left=B,
                                      removed_at=7))
    assert verdict.other == [
        f"founding: decree 0 of the law is not a founding with members={A},{B}: {law[0]}",
        f"admit: the law read from the ledgers does not admit priest {D} at decree 3, as the "
        "heartbeats said",
        f"remove: the law read from the ledgers does not remove priest {B} at decree 7, as the "
        "heartbeats said"]


def test_petitions_lost_passed_twice_or_misnumbered_fail() -> None:
    verdict = Verdict(law=["0,a", "1,b", "2,a", "4,d"])
    check_petitions(verdict, ["a", "b", "c", "d"], {"a": 0, "b": 1, "d": 3}, ["c: timed out"])
    assert (verdict.lost, verdict.twice) == (1, 1)
    assert verdict.petition_problems == [
        "1 petitions passed twice", "1 petitions are not in the law (lost)",
        "1 citizens were told the wrong decree number, e.g. d: told 3, the law has it at 4",
        "1 petitions failed, e.g. c: timed out"]


ARGS = argparse.Namespace(priests=3, citizens=1)


def done() -> tuple[Tally, Failover, Changes]:
    """What a run that went well reports (three founders, one joined, one left)."""
    tally = Tally(bodies=["decree-000000", "decree-000001"],
                  told={"decree-000000": 1, "decree-000001": 2}, latencies=[0.01, 0.02],
                  passed=2, seconds=1.0)
    failover = Failover(A, 123, 1, 0.0, new_priest=B, elected_s=1.5, rejoined=A)
    changes = Changes(founders=(A, B, C), target=4, joined=D, listening=True, admitted_at=3,
                      voting_from=7, left=C, removed_at=7, removed_from=11)
    return tally, failover, changes


LAW = [f"0,founding: alpha=4 members={A},{B},{C}", "1,decree-000000", "2,decree-000001",
       f"3,membership: admit {D}", f"7,membership: remove {C}"]


def test_the_summary_of_a_run_that_went_well() -> None:
    tally, failover, changes = done()
    verdict = Verdict()
    check_laws({A: LAW, B: LAW, C: LAW[:4], D: LAW}, verdict, left=[C])
    check_membership(verdict, changes)
    check_petitions(verdict, tally.bodies, tally.told, [])
    lines = summary(ARGS, "test", tally, failover, changes, verdict)
    assert lines[1:] == [
        f"failover: president {A} killed (SIGKILL) after 1 petitions; new president {B} after "
        "1.50 s",
        f"restart: the killed priest, restarted, took back its identity {A} from its ledger",
        f"join: priest {D} joined as a listener, caught up, and was admitted by the decree at 3, "
        "voting from decree 7",
        f"leave: priest {C} left; removed by the decree at 7 (the others vote without it from "
        "decree 11)",
        "law: 5 decrees: 1 founding, 2 changes of membership, the rest petitions (every "
        "priest's ledger read from disk)",
        f"agreement: ok: 4/4 ledgers agree on the law of 5 decrees; {C}, which left, holds its "
        "first 4",
        "petitions: ok: 2 passed once each, 0 lost, 0 passed twice",
        "throughput: 2.0 petitions/s (2 in 1.0 s, through the failover); latency p50 10.0 ms, "
        "p99 20.0 ms",
        "result: ok"]


def test_the_summary_of_a_failed_check_says_so() -> None:
    tally, failover, changes = done()
    verdict = Verdict()
    check_laws({A: LAW, B: [*LAW[:2], "2,x"], C: LAW[:4], D: LAW}, verdict, left=[C])
    check_petitions(verdict, tally.bodies, tally.told, [])
    lines = summary(ARGS, "test", tally, failover, changes, verdict)
    assert "agreement: FAILED: 3/4 ledgers agree on the law of 5 decrees; " \
        f"{C}, which left, holds its first 4" in lines
    assert lines[-1] == "result: FAILED (1 problems)"
    assert not verdict.ok


def test_no_failover_is_a_failure() -> None:
    tally, _, changes = done()
    verdict = Verdict(law=LAW, agreeing=3)
    lines = summary(ARGS, "test", tally, None, changes, verdict)
    assert "failover: FAILED (no new president)" in lines and not verdict.ok


@pytest.mark.parametrize(("values", "q", "want"), [
    ([], 50, 0.0), ([5.0], 99, 5.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
    ([float(i) for i in range(1, 101)], 99, 99.0), ([float(i) for i in range(1, 101)], 50, 50.0),
])
def test_percentile_is_nearest_rank(values: list[float], q: float, want: float) -> None:
    assert percentile(values, q) == want


def test_a_killed_priest_that_never_rejoins_or_comes_back_as_another_is_a_failure() -> None:
    tally, failover, changes = done()
    failover.rejoined = None
    verdict = Verdict(law=LAW, agreeing=3)
    lines = summary(ARGS, "test", tally, failover, changes, verdict)
    assert "restart: FAILED (the restarted priest never ran again)" in lines
    assert lines[-1].startswith("result: FAILED")
    failover.rejoined = D
    verdict = Verdict(law=LAW, agreeing=3)
    lines = summary(ARGS, "test", tally, failover, changes, verdict)
    assert f"restart: FAILED (it ran as priest {D}, not {A})" in lines and not verdict.ok


@pytest.mark.parametrize(("change", "line"), [
    ({"joined": None, "admitted_at": None, "voting_from": None},
     "join: FAILED (a new priest never beat)"),
    ({"admitted_at": None, "voting_from": None},
     f"join: FAILED (priest {D} was a listener but never admitted)"),
    ({"left": None, "removed_at": None, "removed_from": None},
     "leave: FAILED (no priest was stopped)"),
    ({"removed_at": None, "removed_from": None},
     f"leave: FAILED (priest {C} stopped but was never removed)"),
])
def test_a_change_of_membership_that_did_not_happen_is_a_failure(change: dict[str, object],
                                                                   line: str) -> None:
    tally, failover, changes = done()
    for key, value in change.items():
        setattr(changes, key, value)
    verdict = Verdict(law=LAW, agreeing=4)
    lines = summary(ARGS, "test", tally, failover, changes, verdict)
    assert line in lines and lines[-1] == "result: FAILED (1 problems)"
