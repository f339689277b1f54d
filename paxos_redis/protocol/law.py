"""The law: decrees passed, applied in decree-number order, each petition once.

``known`` is the lowest decree number not yet passed to this priest's knowledge
(every decree below it is known and applied).  A petition retried after a
failover may be passed twice; it is applied at its first decree number only,
and later copies are no-ops that point back at it.
"""

from __future__ import annotations

from .decree import Decree
from .effects import Enacted
from .messages import Entry


class Law:
    """One priest's copy of the law (the learner's state)."""

    __slots__ = ("decrees", "first_of", "known")

    def __init__(self) -> None:
        self.decrees: dict[int, Decree] = {}
        self.known = 0
        #: petition id -> the decree number where it first passed
        self.first_of: dict[str, int] = {}

    def learn(self, entries: tuple[Entry, ...] | list[Entry]) -> tuple[list[Entry], list[Enacted]]:
        """Enter passed decrees; returns (entries new to this law, decrees newly applied)."""
        new: list[Entry] = []
        for n, decree in entries:
            if n >= self.known and n not in self.decrees:
                self.decrees[n] = decree
                new.append((n, decree))
        return new, self._apply() if new else []

    def _apply(self) -> list[Enacted]:
        enacted = []
        while self.known in self.decrees:
            n, decree = self.known, self.decrees[self.known]
            first = n
            if not decree.is_olive_day:
                first = self.first_of.setdefault(decree.petition, n)
            enacted.append(Enacted(n, decree, first))
            self.known += 1
        return enacted

    def get(self, n: int) -> Decree | None:
        return self.decrees.get(n)

    def is_passed(self, n: int) -> bool:
        return n in self.decrees

    def highest(self) -> int:
        """The highest decree number known passed, or -1."""
        return max(self.decrees, default=-1)

    def passed_from(self, start: int, limit: int) -> tuple[Entry, ...]:
        """Up to ``limit`` consecutive passed decrees from ``start`` (a transcript)."""
        out: list[Entry] = []
        n = start
        while len(out) < limit and n in self.decrees:
            out.append((n, self.decrees[n]))
            n += 1
        return tuple(out)
