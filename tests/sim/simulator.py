"""A deterministic simulator of the Parliament: seeded faults, checked after every step.

N priests run the pure core.  A seeded messenger loses, duplicates, reorders and
delays messages; partitions come and heal; priests crash (losing any record not
yet durable) and restart from their ledgers; rival presidents start at random;
and every message in flight can be wiped at once (Redis restarting empty).
Priests keep a tiny law window in memory (``law_memory=3``) and compact their
ledgers into their archives all the time, with crashes in the middle of compaction,
so catch-up of decrees older than the window and restarts after compaction are
exercised by every seed (one seed in three also bounds the law in memory to 16
bytes of bodies, so it is trimmed by size).  Even seeds run thrifty presidents (a begin ballot goes to
a bare majority), odd seeds presidents that ask every priest.

After every step it checks:

* no two different decrees passed at one decree number (across all priests, ever);
* every passed decree was petitioned or is the olive-day decree;
* a petition, once given a decree number, keeps it (exactly once, within the dedup
  window: a copy passed more than ``dedup_window`` decrees later may count as new);
* every priest, restarted or not, applies each decree number with the same ``first``;
* a compacted ledger and its archive restore the priest exactly as it was;
* promises never go backwards in a ledger, and no vote is below the promise;
* persist, then send: no message left before the record it depends on was durable;
* a citizen answered by a majority of receipts (votes told to it directly) was given
  the number where the law applies its petition (the same check as the law's own
  answers: exactly once).

After the faults stop, every petition must pass within a bound of steps (liveness).
A failure names the seed; ``python tests/sim/simulator.py --seed N`` replays it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from changes import Changes
from world import Faults, Node, Packet, Violation, snapshot

from paxos_redis.protocol import (
    BeginBallot,
    Decree,
    Effects,
    Founding,
    Identity,
    LastVote,
    Message,
    NextBallot,
    Passed,
    Priest,
    Promise,
    Receipt,
    Record,
    Rules,
    Tried,
    Voted,
    VoteNo,
    Votes,
)
from paxos_redis.protocol.compaction import compact, due


class Simulation(Changes):
    """One seeded run; ``run()`` raises :class:`Violation` with the seed on any failure."""

    def __init__(self, seed: int, *, priests: int = 5, steps: int = 500,
                 liveness_bound: int = 400, faults: Faults | None = None,
                 priest_class: type[Priest] = Priest, rules: Rules | None = None,
                 check_durability: bool = True, alpha: int = 6,
                 founders: int | None = None, voters: int | None = None,
                 thrifty: bool | None = None) -> None:
        self.seed = seed
        self.alpha, self.priests = alpha, priests
        self.rng = random.Random(seed)
        self.steps = steps
        self.liveness_bound = liveness_bound
        self.faults = faults or Faults()
        self.priest_class = priest_class
        self.rules = rules or Rules(window=8, batch=4, resend_ticks=2, inquiry_ticks=2,
                                    retry_ticks=3, president_ticks=6, law_memory=3,
                                    dedup_window=60,
                                    thrifty=seed % 2 == 0 if thrifty is None else thrifty,
                                    law_memory_bytes=16 if seed % 3 == 1 else 64 << 20,
                                    batch_bytes=12 if seed % 5 == 2 else 1 << 20,
                                    window_bytes=30 if seed % 5 == 3 else 8 << 20)
        self.check_durability = check_durability
        ids = self.rng.sample(range(1, 1 << 48), priests)
        self.nodes = [Node(i, [Identity("sim", i)]) for i in ids]
        self.node_of = {node.id: node for node in self.nodes}
        #: the founding's members: the first ``founders`` priests (every one by default);
        #: the others start as listeners, and the god admits them up to ``voters``
        self.founders = frozenset(ids[:founders])
        self.founding = Founding(f"g{seed}", alpha, tuple(ids[:founders])).decree()
        for node in self.nodes:
            node.priest = priest_class.restore(node.durable, self.rules, node.archive)
        self.net: list[Packet] = []
        self.now = 0
        self.side: dict[int, int] = {}           # priest -> partition side; empty when healed
        self.chosen: dict[int, Decree] = {}      # the one decree passed at each number
        self.petitioned: dict[str, Decree] = {}
        self.given: dict[str, int] = {}          # petition id -> decree number it was given
        self.firsts: dict[int, int] = {}         # decree number -> where its petition first passed
        self.firsts_of: dict[str, set[int]] = {}  # petition id -> every number it was given
        self.outstanding: dict[str, int] = {}    # petition id -> step it was last sent
        self.receipts: dict[tuple[str, int, object], set[int]] = {}   # (pid, n, ballot) -> priests
        self.last_progress = 0
        self.counts = {"delivered": 0, "lost": 0, "duplicated": 0, "crashes": 0,
                       "wipes": 0, "partitions": 0, "rivals": 0, "elections": 0,
                       "compactions": 0, "late_copies": 0,
                       "receipts": 0, "receipt_answers": 0, "answered_from_law": 0}
        self.setup_changes(voters)
        self.petitioned[self.founding.petition] = self.founding
        for node in self.nodes:                  # god's founding reaches every founder
            if node.id in self.founders:
                self.act(node, lambda p: p.found(self.founding), may_crash=False)

    # ------------------------------------------------------------ the world

    #: what the replay command adds to name a scenario (see :class:`Churn`)
    scenario = ""

    def fail(self, what: str) -> None:
        alpha = f" --alpha {self.alpha}" if self.alpha != 6 else ""
        raise Violation(f"seed {self.seed} step {self.now}: {what}\n"
                        f"  replay: python tests/sim/simulator.py --seed {self.seed}"
                        f" --steps {self.steps} --priests {self.priests}{self.scenario}{alpha}")

    def act(self, node: Node, action: Callable[[Priest], Effects], *, may_crash: bool) -> None:
        """Step one priest, then persist, then send: the runtime's order, with crash points."""
        assert node.priest is not None
        effects = action(node.priest)
        roll = self.rng.random() if may_crash else 1.0
        if roll < self.faults.crash / 2:          # died before the fsync: nothing happened
            self.crash(node)
            return
        self.persist(node, effects.records)
        self.check_learned(node, effects)        # passed once durable, even if we die now
        if roll < self.faults.crash:              # died after the fsync, before sending
            self.crash(node)
            return
        self.show_stamp(node)
        for dst, message in effects.messages:
            if self.check_durability:
                self.check_sent(node, message)
            self.send(node.id, dst, message)
        for receipt in effects.receipts:
            self.receipt(node, receipt)
        for applied in effects.applied:
            if self.firsts.setdefault(applied.n, applied.first) != applied.first:
                self.fail(f"priest {node.id} applied decree {applied.n} as first passed at "
                          f"{applied.first}, another priest at {self.firsts[applied.n]}")
            if not applied.decree.is_olive_day:
                self.check_given(node, applied.decree.petition, applied.first)
            self.last_progress = self.now

    def check_given(self, node: Node, pid: str, first: int) -> None:
        """Exactly once: a petition keeps its number, unless a copy passed so long after it
        that the dedup window forgot it (then it is a new petition: documented).  So two
        numbers given to one petition id are more than ``dedup_window`` apart."""
        firsts = self.firsts_of.setdefault(pid, set())
        if first not in firsts:
            near = [f for f in firsts if abs(first - f) <= self.rules.dedup_window]
            if near:
                self.fail(f"petition {pid} given number {near[0]}, then {first} at priest "
                          f"{node.id}")
            if firsts:
                self.counts["late_copies"] += 1
            firsts.add(first)
            self.given[pid] = max(firsts)
        self.outstanding.pop(pid, None)

    def receipt(self, node: Node, r: Receipt) -> None:
        """The citizen counts receipts (they may be lost like any message); a majority at one
        ballot answers it with ``r.n``, which must be where the law applies the petition."""
        if self.check_durability and node.voted.get((r.n, r.ballot), None) is None:
            self.fail(f"priest {node.id} sent a receipt for decree {r.n} at {r.ballot} "
                      "before its vote was durable")
        if node.voted[(r.n, r.ballot)].petition != r.petition or r.priest != node.id:
            self.fail(f"priest {node.id} sent a receipt for {r} but voted "
                      f"{node.voted[(r.n, r.ballot)]!r}")
        if self.rng.random() < self.faults.loss:
            return
        self.counts["receipts"] += 1
        voters = self.receipts.setdefault((r.petition, r.n, r.ballot), set())
        voters.add(r.priest)
        if len(voters) == r.of // 2 + 1:
            self.counts["receipt_answers"] += 1
            self.check_given(node, r.petition, r.n)

    def crash(self, node: Node) -> None:
        node.priest = None
        self.counts["crashes"] += 1

    def restart(self, node: Node) -> None:
        node.priest = self.priest_class.restore(node.durable, self.rules, node.archive)
        self.note_return(node)

    def compact(self, node: Node, every: int = 4) -> None:
        """The runtime's compaction, between steps, with crash points inside it."""
        priest = node.priest
        if priest is None or not due(priest, node.archive, every):
            return
        roll = self.rng.random()

        def replace(records: list[Record]) -> None:
            if roll < self.faults.crash / 2:          # died after archiving, before the rename
                raise Violation("crash")              # (caught below: not a violation)
            node.durable = records

        try:
            compact(priest, node.archive, replace)
        except Violation:
            self.crash(node)
            return
        self.counts["compactions"] += 1
        again = self.priest_class.restore(node.durable, self.rules, node.archive)
        if snapshot(again) != snapshot(priest):
            self.fail(f"priest {node.id} restored from its compacted ledger differs: "
                      f"{snapshot(again)} != {snapshot(priest)}")
        if roll < self.faults.crash:                  # died just after compacting
            self.crash(node)

    def send(self, src: int, dst: int, message: Message) -> None:
        f = self.faults
        if self.rng.random() < f.loss:
            self.counts["lost"] += 1
            return
        copies = 2 if self.rng.random() < f.duplicate else 1
        self.counts["duplicated"] += copies - 1
        for _ in range(copies):
            self.net.append(Packet(self.now + self.rng.randint(0, f.max_delay), src, dst, message))

    def deliver_some(self, limit: int) -> None:
        for _ in range(limit):
            due = [i for i, p in enumerate(self.net) if p.due <= self.now]
            if not due:
                return
            packet = self.net.pop(self.rng.choice(due))   # any due packet: reordering
            node = self.node_of.get(packet.dst)
            if node is None or node.priest is None or self.cut(packet.src, packet.dst):
                continue
            self.counts["delivered"] += 1
            self.act(node, lambda p: p.receive(packet.message), may_crash=True)

    def cut(self, a: int, b: int) -> bool:
        return bool(self.side) and self.side.get(a, 0) != self.side.get(b, 0)

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.priest is not None]

    # ------------------------------------------------------------ checks

    def persist(self, node: Node, records: list[Record]) -> None:
        """Make records durable, checking promises never go backwards in the ledger."""
        for record in records:
            if isinstance(record, Promise):
                if record.ballot < node.max_promise:
                    self.fail(f"priest {node.id} promised {record.ballot} "
                              f"after {node.max_promise}")
                node.max_promise = record.ballot
            elif isinstance(record, Votes):
                if record.ballot < node.max_promise:
                    self.fail(f"priest {node.id} voted at {record.ballot} "
                              f"below its promise {node.max_promise}")
                node.max_promise = record.ballot
                for n, decree in record.entries:
                    node.voted[(n, record.ballot)] = decree
            elif isinstance(record, Tried):
                node.max_tried = max(node.max_tried, record.ballot)
            node.durable.append(record)

    def check_sent(self, node: Node, m: Message) -> None:
        """Persist, then send: the record a message depends on must already be durable."""
        if isinstance(m, LastVote) and node.max_promise < m.ballot:
            self.fail(f"priest {node.id} sent last vote {m.ballot} with durable promise "
                      f"{node.max_promise}")
        elif isinstance(m, VoteNo) and node.max_promise < m.promise:
            self.fail(f"priest {node.id} cited promise {m.promise}, durable {node.max_promise}")
        elif isinstance(m, Voted):
            for n in m.numbers:
                if (n, m.ballot) not in node.voted:
                    self.fail(f"priest {node.id} sent voted({m.ballot}, {n}) before the vote "
                              "was durable")
        elif isinstance(m, (NextBallot, BeginBallot)) and node.max_tried < m.ballot:
            self.fail(f"priest {node.id} led ballot {m.ballot}, durable last_tried "
                      f"{node.max_tried}")

    def check_learned(self, node: Node, effects: Effects) -> None:
        for record in effects.records:
            if not isinstance(record, Passed):
                continue
            for n, decree in record.entries:
                if not decree.is_olive_day and self.petitioned.get(decree.petition) != decree:
                    self.fail(f"priest {node.id} passed {decree!r} at {n}, never petitioned")
                first = self.chosen.setdefault(n, decree)
                if first != decree:
                    self.fail(f"two decrees passed at {n}: {first!r} and {decree!r} "
                              f"(priest {node.id})")

    # ------------------------------------------------------------ citizens and gods

    def petition(self, pid: str | None = None) -> None:
        live = self.live()
        if not live:
            return
        if pid is None:
            pid = f"c{len(self.petitioned)}"
            body = self.rng.randbytes(self.rng.randint(0, 12))
            self.petitioned[pid] = Decree(pid, body)
        self.outstanding[pid] = self.now
        node = self.rng.choice(live)
        assert node.priest is not None
        answer = node.priest.triage(self.petitioned[pid])     # as the runtime does first
        if answer is not None:
            if answer.n is None:
                self.fail(f"petition {pid} refused by priest {node.id}: {answer.error}")
            self.counts["answered_from_law"] += 1
            self.check_given(node, pid, answer.n)
            return
        self.act(node, lambda p: p.petition([self.petitioned[pid]], {pid: "citizen"}),
                 may_crash=True)

    def retry_petitions(self, every: int) -> None:
        for pid, sent in list(self.outstanding.items()):
            if self.now - sent >= every:
                self.petition(pid)

    def elect(self, node: Node, *, rival: bool) -> None:
        self.counts["rivals" if rival else "elections"] += 1
        self.act(node, lambda p: p.start_ballot(), may_crash=not rival)

    def god(self, patience: int) -> None:
        """Start a ballot at a live priest when no president is acting and work waits."""
        if not self.outstanding or self.now - self.last_progress < patience:
            return
        live = self.live()
        voters = [n for n in live if n.priest is not None and n.priest.role == "voter"]
        if voters and not any(n.priest is not None and n.priest.is_president for n in live):
            self.elect(self.rng.choice(voters), rival=False)
            self.last_progress = self.now

    # ------------------------------------------------------------ the run

    def fault_step(self) -> None:
        f, rng = self.faults, self.rng
        if rng.random() < f.petition:
            self.petition()
        if rng.random() < f.rival and self.live():
            self.elect(rng.choice(self.live()), rival=True)
        if rng.random() < f.partition and not self.side:
            self.side = {n.id: rng.randint(0, 1) for n in self.nodes}
            self.counts["partitions"] += 1
        elif self.side and rng.random() < f.heal:
            self.side = {}
        if rng.random() < f.wipe:
            self.net.clear()
            self.counts["wipes"] += 1
        for node in self.nodes:
            if node.priest is None and rng.random() < f.restart:
                self.restart(node)
        for node in self.live():
            if rng.random() < 0.5:
                self.act(node, lambda p: p.tick(), may_crash=True)
        for node in self.live():
            if rng.random() < f.compact:
                self.compact(node)
        self.change_faults()
        self.listen()
        self.steward(patience=self.gone_after)
        self.retry_petitions(every=12)
        self.god(patience=10)
        self.deliver_some(rng.randint(1, 10))

    def heal_step(self) -> None:
        for node in self.nodes:
            if node.priest is None:
                self.restart(node)
        for node in self.nodes:
            self.act(node, lambda p: p.tick(), may_crash=False)
            self.compact(node)
        self.listen()
        self.steward(patience=self.gone_after)
        self.retry_petitions(every=8)
        self.god(patience=6)
        self.deliver_some(len(self.net))

    def settled(self) -> bool:
        if self.outstanding:
            return False
        top = max(self.given.values(), default=-1)
        return all(n.priest is not None and n.priest.law.known > top for n in self.nodes)

    def run(self) -> Simulation:
        for _ in range(self.steps):
            self.now += 1
            self.fault_step()
        self.faults, self.side = Faults.none(), {}
        for _ in range(self.liveness_bound):
            if self.settled():
                return self
            self.now += 1
            self.heal_step()
        if not self.settled():
            waiting = sorted(self.outstanding)[:5]
            laws = [n.priest.law.known if n.priest else None for n in self.nodes]
            self.fail(f"liveness: not settled {self.liveness_bound} steps after faults healed; "
                      f"petitions waiting {waiting}, laws known {laws}")
        return self


class Churn(Simulation):
    """Membership churn (``--churn``): a founding of 3 of the 5 priests, the other two
    standing by as listeners.  The god keeps 3 voting and removes a member that is down
    for 5 steps, then admits a listener in its place (two changes); priests crash a
    quarter as often but stay down about 33 steps, so a replaced member comes back still
    sure it sits; partitions come five times as often and last about 20 steps; no rival
    presidents, and presidents send begin ballots to every member.  Every other fault as
    by default.  Faulty membership rules are caught here (``test_simulation``)."""

    gone_after = 5
    scenario = " --churn"

    def __init__(self, seed: int, **kwargs: Any) -> None:
        kwargs.setdefault("founders", 3)
        kwargs.setdefault("voters", 3)
        kwargs.setdefault("thrifty", False)
        kwargs.setdefault("faults", Faults(crash=0.005, restart=0.03, partition=0.05,
                                           heal=0.05, rival=0.0))
        super().__init__(seed, **kwargs)


def run_seeds(seeds: range, *, steps: int = 500, priests: int = 5, churn: bool = False,
              alpha: int = 6) -> dict[str, int]:
    """Run many seeds; raise the first :class:`Violation`; return the totals."""
    totals = {"seeds": 0, "steps": 0, "decrees": 0, "petitions": 0}
    kind = Churn if churn else Simulation
    for seed in seeds:
        sim = kind(seed, priests=priests, steps=steps, alpha=alpha).run()
        totals["seeds"] += 1
        totals["steps"] += sim.now
        totals["decrees"] += len(sim.chosen)
        totals["petitions"] += len(sim.given)
        sim.counts["changes_made"] = max((n.priest.law.members.taken for n in sim.nodes
                                          if n.priest is not None), default=0)
        for key, value in sim.counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _chunk(args: tuple[int, int, int, int, bool, int]) -> dict[str, int]:
    start, stop, steps, priests, churn, alpha = args
    return run_seeds(range(start, stop), steps=steps, priests=priests, churn=churn, alpha=alpha)


def run_parallel(start: int, stop: int, *, steps: int = 500, priests: int = 5,
                 jobs: int = 1, churn: bool = False, alpha: int = 6,
                 size: int = 250) -> dict[str, int]:
    """``run_seeds`` over ``jobs`` processes (seeds split into chunks of ``size``); totals
    summed."""
    chunks = [(a, min(a + size, stop), steps, priests, churn, alpha)
              for a in range(start, stop, size)]
    if jobs <= 1:
        results = [_chunk(c) for c in chunks]
    else:
        import multiprocessing
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            results = pool.map(_chunk, chunks)
    totals: dict[str, int] = {}
    for result in results:
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run seeded simulations of the Parliament.")
    parser.add_argument("--seed", type=int, help="replay one seed")
    parser.add_argument("--seeds", default="0:2000", help="a range START:STOP of seeds")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--priests", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1, help="processes to spread seeds over")
    parser.add_argument("--churn", action="store_true", help="the membership scenario (Churn)")
    parser.add_argument("--alpha", type=int, default=6, help="the founding's alpha")
    args = parser.parse_args(argv)
    if args.seed is not None:
        start, stop = args.seed, args.seed + 1
    else:
        start, stop = (int(x) for x in args.seeds.split(":"))
    began = time.perf_counter()
    try:
        totals = run_parallel(start, stop, steps=args.steps, priests=args.priests, jobs=args.jobs,
                              churn=args.churn, alpha=args.alpha)
    except Violation as exc:
        print(exc)
        return 1
    elapsed = time.perf_counter() - began
    scenario = (" churn" if args.churn else "") + (f" alpha {args.alpha}" if args.alpha != 6 else "")
    print(f"seeds {start}:{stop} x {args.steps} steps, {args.priests} priests{scenario}: "
          f"0 violations, liveness met in every seed")
    print(f"simulated steps {totals['steps']} in {elapsed:.1f} s "
          f"({totals['steps'] / elapsed:.0f} steps/s over {args.jobs} process(es))")
    print("totals " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
