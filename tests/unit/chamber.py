"""Priests of a founded parliament for the core's unit tests, and a hand-cranked chamber.

A priest is named by its identity (a random 48-bit number in a running parliament);
here ``IDS`` are fixed ones, ascending, so that "priest 0" of a test is the lowest
identity (ballots and a deposed president's retry order follow identities).  Decree 0
of every parliament is its founding, so the citizens' decrees of a test start at 1.

``Chamber`` is a tiny hand-cranked messenger: it keeps every priest's records and applied
decrees, queues the messages each step asks to send, and delivers them in order, dropping
the ones a test says are lost.  Tests name priests by their index in the chamber (0, 1,
...); the messages carry identities.  After every step it checks the one property that
matters: no two different decrees at one decree number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from paxos_redis.protocol import (
    Applied,
    Archive,
    BeginBallot,
    Decree,
    Effects,
    Founding,
    Identity,
    Message,
    Passed,
    Priest,
    Record,
    Rules,
)
from paxos_redis.protocol.membership import ALPHA

SENATE = "senate"
#: identities of the priests of a test, ascending (index i: "priest i")
IDS = (0x0A11_0000_0001, 0x0B22_0000_0002, 0x0C33_0000_0003, 0x0D44_0000_0004,
       0x0E55_0000_0005, 0x0F66_0000_0006, 0x0F77_0000_0007)
P0, P1, P2, P3, P4 = IDS[:5]
#: a priest no parliament of these tests counts in
OUTSIDER = 0x7FFF_0000_0009

Drop = Callable[[int, int, Message], bool]

#: the sizes and patience these tests were written for: a smaller window and fewer ticks
#: than the running parliament's (``Rules()``), given explicitly so that a change of
#: those defaults changes no test
UNIT_RULES = {"window": 256, "resend_ticks": 2, "inquiry_ticks": 2, "retry_ticks": 4,
              "president_ticks": 8}


def unit_rules(**changes: int | bool) -> Rules:
    """The unit tests' rules (:data:`UNIT_RULES`) with ``changes``."""
    return Rules(**{**UNIT_RULES, **changes})  # type: ignore[arg-type]


def d(name: str) -> Decree:
    return Decree(name, name.encode())


def founding(members: Sequence[int] = IDS[:3], alpha: int = ALPHA) -> Decree:
    """Decree 0 of a parliament whose first members are ``members``."""
    return Founding("g1", alpha, tuple(members)).decree()


def ledger(priest: int, members: Sequence[int] = IDS[:3], alpha: int = ALPHA) -> list[Record]:
    """The ledger of ``priest`` once it has entered the founding: its Identity, decree 0."""
    return [Identity(SENATE, priest), Passed(((0, founding(members, alpha)),))]


def make(i: int = 1, size: int = 3, rules: Rules | None = None, *, alpha: int = ALPHA,
         archive: Archive | None = None) -> Priest:
    """Priest ``IDS[i]`` of a parliament founded with ``IDS[:size]`` (a listener if
    ``i >= size``), its law kept in ``archive`` if one is given (empty: a new ledger)."""
    priest = Priest.restore([Identity(SENATE, IDS[i])], rules or unit_rules(), archive)
    effects = priest.found(founding(IDS[:size], alpha))
    assert effects.records == ledger(IDS[i], IDS[:size], alpha)[1:]
    return priest


class Chamber:
    """Priests stepped by hand: ``members`` founders, then ``listeners`` that know the
    founding but do not vote.  Presidents announce passed decrees at once (announce=1)
    unless the rules given say otherwise, so ``deliver()`` alone spreads the law."""

    def __init__(self, members: int, rules: Rules | None = None, *, listeners: int = 0,
                 alpha: int = ALPHA) -> None:
        rules = rules or unit_rules(announce=1, thrifty=False)
        self.rules = rules
        self.ids = IDS[: members + listeners]
        self.index = {priest: i for i, priest in enumerate(self.ids)}
        self.founding = founding(self.ids[:members], alpha)
        self.priests = [Priest.restore([Identity(SENATE, p)], rules) for p in self.ids]
        self.ledgers: dict[int, list[Record]] = {i: [Identity(SENATE, p)]
                                                 for i, p in enumerate(self.ids)}
        self.applied: dict[int, list[Applied]] = {i: [] for i in range(len(self.ids))}
        self.queue: list[tuple[int, int, Message]] = []
        self.sent: list[tuple[int, int, Message]] = []
        self.down: set[int] = set()
        self.after_step: Callable[[], None] | None = None
        for i, priest in enumerate(self.priests):
            self.absorb(i, priest.found(self.founding))
            self.applied[i].clear()                 # tests count the citizens' decrees

    # -- driving
    def absorb(self, i: int, eff: Effects) -> Effects:
        self.ledgers[i].extend(eff.records)
        self.applied[i].extend(eff.applied)
        for dst, m in eff.messages:
            assert dst != self.ids[i], "messages to oneself never leave the process"
            assert m.sender == self.ids[i], "a priest sends as itself"
            self.queue.append((i, self.index[dst], m))
            self.sent.append((i, self.index[dst], m))
        self.check()
        if self.after_step:
            self.after_step()
        return eff

    def start(self, i: int) -> Effects:
        return self.absorb(i, self.priests[i].start_ballot())

    def petition(self, i: int, *decrees: Decree) -> Effects:
        return self.absorb(i, self.priests[i].petition(decrees))

    def tick(self, *which: int, times: int = 1) -> None:
        for _ in range(times):
            for i in which or range(len(self.priests)):
                if i not in self.down:
                    self.absorb(i, self.priests[i].tick())

    def deliver(self, drop: Drop | None = None, limit: int = 100_000) -> None:
        while self.queue:
            limit -= 1
            assert limit > 0, "messages never stop"
            src, dst, m = self.queue.pop(0)
            if src in self.down or dst in self.down or (drop is not None and drop(src, dst, m)):
                continue
            self.absorb(dst, self.priests[dst].receive(m))

    def lose_all(self) -> None:
        self.queue.clear()

    def restart(self, i: int) -> None:
        """Priest ``i`` crashes and comes back from its ledger."""
        self.priests[i] = Priest.restore(self.ledgers[i], self.rules)

    # -- looking
    def check(self) -> None:
        chosen: dict[int, Decree] = {}
        for p in self.priests:
            for n, decree in p.law.decrees.items():
                assert chosen.setdefault(n, decree) == decree, f"two decrees passed at {n}"

    def law(self, i: int) -> list[Decree]:
        """The decrees priest ``i`` knows passed after the founding, in order."""
        p = self.priests[i]
        return [p.law.decrees[n] for n in range(1, p.law.known)]

    def begins(self, src: int | None = None, dst: int | None = None) -> list[BeginBallot]:
        return [m for s, t, m in self.sent if isinstance(m, BeginBallot)
                and (src is None or s == src) and (dst is None or t == dst)]

    def elect(self, i: int) -> None:
        self.start(i)
        self.deliver()
        assert self.priests[i].is_president


def kind(*types: type) -> Drop:
    return lambda src, dst, m: isinstance(m, types)


def to(*which: int, types: tuple[type, ...] = (object,)) -> Drop:
    return lambda src, dst, m: dst in which and isinstance(m, types)
