"""The nemesis's faults that change who the priests are, and what they need to know.

Scale up, scale down and replace change the membership (the gods admit and remove by
decree); a duplicate (a copy of a running priest's ledger, started elsewhere) must refuse
to start.  Whether a priest may leave depends on the members: :meth:`_allowed` keeps a
majority of them available, counting the ones gone for good (:attr:`departed`) until the
law no longer names them.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hosts import FaultyParliament

from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.membership import Membership, name
from paxos_redis.protocol.records import Passed
from tests.ledger_checks import ledger_records
from tests.processes import Process

MIN_RUNNING = 4                             # scale_down never leaves fewer priests running
DOWN_KINDS = ("kill", "pause", "cut", "fsync")
GONE_KINDS = ("scale_down", "replace")      # a member leaves for good
#: a duplicate that has not refused within this long is a failure (its claim wait is ~3.5 s)
TWIN_DEADLINE = 20.0


@dataclass
class Twin:
    """A duplicate started on a copy of ``priest``'s ledger (running on ``host``)."""

    process: Process
    priest: int
    host: int
    started: float = field(default_factory=time.monotonic)


class MembershipFaults:
    """Mixed into :class:`nemesis.Nemesis` (which sets these attributes)."""

    parliament: FaultyParliament
    rng: random.Random
    down: dict[int, str]
    noisy: set[int]
    busy: set[int]
    departed: set[int]
    twins: list[Twin]
    members: frozenset[int]
    current: frozenset[int]
    report: Any                             # nemesis.Report: faults by kind, the verdict

    def event(self, text: str) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ what is up

    def _members(self) -> frozenset[int]:
        """The members now (:attr:`current`), and every priest that says it votes (a change
        pending); a departed priest leaves :attr:`departed` once the law no longer names
        it.  While Redis is down (no beats), what was seen last."""
        p = self.parliament
        beats = p.live_beats()
        members = p.members()
        if members:
            self.current = members
            self.members = members | {q for q, b in beats.items() if b.role == "voter"}
            self.departed &= members
        return self.members

    def _unavailable(self, members: frozenset[int]) -> int:
        """Members that cannot vote now: gone for good, down, or not running."""
        p = self.parliament
        return sum(1 for m in members if m in self.departed or (host := p.host_of(m)) is None
                   or host in self.down)

    def _target(self, president_bias: bool) -> int | None:
        """A host whose priest runs and is not faulted already."""
        p = self.parliament
        free = [h for h, proc in p.running().items() if proc.alive and h not in self.down
                and h not in self.noisy and h not in self.busy]
        if not free:
            return None
        president = p.current_president()
        host = None if president is None else p.host_of(president)
        if president_bias and host in free and self.rng.random() < 0.6:
            return host
        return self.rng.choice(free)

    def _allowed(self, kind: str, host: int) -> bool:
        """Whether faulting ``host``'s priest this way leaves the members a majority (a
        transient fault may take one more, one time in five)."""
        p = self.parliament
        priest = p.on_host[host].priest                 # type: ignore[union-attr]
        members = self._members()
        if kind == "scale_down" and (len(p.running()) <= MIN_RUNNING or priest is None):
            return False        # a priest not beating yet may not have its handlers yet
        if priest is not None and priest not in members:
            return True                                 # a listener
        minority = (len(self.current) - 1) // 2
        if kind in GONE_KINDS:
            return self._unavailable(members) + 1 <= minority
        if kind in DOWN_KINDS:
            return self._unavailable(members) < minority + (self.rng.random() < 0.2)
        return True

    def _depart(self, priest: int | None) -> None:
        if priest is not None and priest in self.members:
            self.departed.add(priest)

    def _duplicate(self, host: int, priest: int | None) -> None:
        """A copy of the host's priest's ledger, started elsewhere: it must refuse."""
        if priest is None:
            return
        twin = self.parliament.start_twin(host)
        if twin is None:
            return
        self.report.faults["duplicate"] += 1
        self.event(f"duplicate of priest {name(priest)} (host {host}): pid {twin.pid}")
        self.twins.append(Twin(twin, priest, host))
        self.busy.add(host)

    def watch_twins(self) -> None:
        """A twin must exit refusing to start, within TWIN_DEADLINE."""
        p = self.parliament
        for twin in list(self.twins):
            process = twin.process
            late = time.monotonic() - twin.started >= TWIN_DEADLINE
            if process.alive and not late:
                continue
            if process.alive:
                process.signal(signal.SIGKILL)
                process.wait(10)
                self.report.verdict.fail(f"a duplicate of priest {name(twin.priest)} still ran "
                                         f"after {TWIN_DEADLINE:g} s:\n{process.tail(8)}")
            elif (problem := p.twin_verdict(process, twin.priest)) is not None:
                self.report.verdict.fail(problem)
            else:
                self.event(f"duplicate pid {process.pid} of {name(twin.priest)} refused, after "
                           f"{time.monotonic() - twin.started:.1f} s")
            self.twins.remove(twin)
            self.busy.discard(twin.host)


def membership_changes(path: Path) -> Counter[str]:
    """Admissions and removals that took hold in a ledger's law (void changes not counted)."""
    passed: dict[int, Decree] = {}
    for record in ledger_records(path):
        for n, decree in record.entries if isinstance(record, Passed) else ():
            passed.setdefault(n, decree)
    members, out = Membership(), Counter[str]()
    for n in sorted(passed):
        if members.apply(n, passed[n]) and n > 0:
            out[passed[n].body.decode().split()[0]] += 1
    return out
