"""The law: decrees passed, applied in decree-number order, each petition once.

``known`` is the lowest decree number not yet passed to this priest's knowledge
(every decree below it is known and applied).  A petition retried after a
failover may be passed twice; it is applied at its first decree number only,
and later copies are no-ops that point back at it.

Bounded memory.  A priest keeps in memory only the recent law: the decrees from
``floor`` up.  Older decrees live in an :class:`Archive` the runtime hands in (the
priest's law file, read on demand, like etcd-raft's ``Storage``); the core never
drops a decree the archive does not hold yet, and keeps at least ``memory``
decrees below ``known``, fewer if their bodies take more than ``memory_bytes``.  A
petition id is recognised as a retry for ``dedup`` decrees after it first passed
(see :class:`Dedup`); past that window the same id counts as a new petition.  The
window is decided per decree number, so every priest computes the same ``first`` for
every decree, restarted or not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

from paxos_redis.errors import LawConflict
from paxos_redis.protocol.decree import INTERNAL, Decree
from paxos_redis.protocol.effects import Applied
from paxos_redis.protocol.membership import Membership
from paxos_redis.protocol.messages import Entry

#: memory / dedup when not bounded (a priest with no archive keeps the whole law)
UNBOUNDED = 1 << 62


class Archive(Protocol):
    """Applied law below ``end``, kept outside memory (the runtime's law file, or a twin)."""

    @property
    def end(self) -> int:
        """Decrees ``0 .. end-1`` are archived."""
        ...  # pragma: no cover - a protocol

    def read(self, start: int, limit: int) -> Sequence[Applied]:
        """Up to ``limit`` consecutive archived decrees from ``start`` (fewer at ``end``)."""
        ...  # pragma: no cover - a protocol


class Dedup:
    """Petition id -> the decree number where it first passed, for the last ``window`` numbers.

    At decree ``n`` a petition id counts as a retry only if it first passed at a
    number ``f`` with ``n - f <= window``; older first passings are forgotten.
    """

    __slots__ = ("first_of", "order", "window")

    def __init__(self, window: int = UNBOUNDED) -> None:
        self.window = window
        self.first_of: dict[str, int] = {}
        self.order: deque[str] = deque()       # the same ids, by first passing ascending

    def first(self, n: int, petition: str) -> int:
        """The number where ``petition`` first passed, as seen at decree ``n`` (``n`` if new)."""
        order, first_of, oldest = self.order, self.first_of, n - self.window
        while order and first_of[order[0]] < oldest:
            del first_of[order.popleft()]
        first = first_of.setdefault(petition, n)
        if first == n:
            order.append(petition)
        return first


class Law:
    """One priest's copy of the law (the learner's state), and the membership it decides."""

    __slots__ = ("_applied", "_dedup", "archive", "bytes", "decrees", "floor", "known", "memory",
                 "memory_bytes", "members", "top")

    def __init__(self, *, memory: int = UNBOUNDED, dedup: int = UNBOUNDED,
                 archive: Archive | None = None, memory_bytes: int = UNBOUNDED) -> None:
        self.decrees: dict[int, Decree] = {}   # every passed decree from ``floor`` up
        self.bytes = 0                         # their bodies' sizes, summed
        self.memory_bytes = memory_bytes
        self.known = 0
        self.floor = 0
        self.top = -1                          # the highest decree number known passed
        self.memory = memory
        self.archive = archive
        self._dedup = Dedup(dedup)
        #: who votes for which decree numbers, as the law applied so far decides
        self.members = Membership()
        #: the applied decrees in memory, ``floor .. known - 1``, as made when applied (for
        #: reads and compaction, which would otherwise make them again)
        self._applied: list[Applied] = []

    @property
    def first_of(self) -> dict[str, int]:
        """petition id -> the decree number where it first passed (within the dedup window)"""
        return self._dedup.first_of

    def resume(self, archive: Archive, members: tuple[int, Membership] | None = None) -> None:
        """Start from ``archive``: its decrees are known; rebuild the dedup window from it,
        and the membership from ``members`` (the membership once the law below its number
        was applied) and the archived decrees from there on."""
        self.archive = archive
        self.known = self.floor = archive.end
        self._applied = []
        self.top = max(self.top, archive.end - 1)
        dedup_from = max(0, archive.end - self._dedup.window)
        members_from = archive.end
        if members is not None:
            members_from, self.members = members[0], members[1].copy()
        elif archive.end:
            members_from, self.members = 0, type(self.members)()
        n = min(dedup_from, members_from)
        while n < archive.end:
            batch = archive.read(n, min(4096, archive.end - n))
            if not batch:
                break
            for e in batch:
                if e.n >= dedup_from and e.first == e.n and not e.decree.is_olive_day:
                    self._dedup.first(e.n, e.decree.petition)
                if e.n >= members_from and e.first == e.n and e.decree.petition[:1] == INTERNAL:
                    self.members.apply(e.n, e.decree)
            n = batch[-1].n + 1

    def learn(self, entries: tuple[Entry, ...] | list[Entry]) -> tuple[list[Entry], list[Applied]]:
        """Enter passed decrees; returns (entries new to this law, decrees newly applied)."""
        new: list[Entry] = []
        decrees, known, size = self.decrees, self.known, 0
        for entry in entries:
            n = entry[0]
            if n >= known and n not in decrees:
                decree = decrees[n] = entry[1]
                size += len(decree.body)
                new.append(entry)
            elif n in decrees and decrees[n] != entry[1]:
                raise LawConflict(
                    f"told that decree {n} is {entry[1]!r}, but this priest's law holds "
                    f"{decrees[n]!r} there: two decrees passed at one number. This priest "
                    "stops; keep every ledger as it is and report it")
        if not new:
            return new, []
        self.bytes += size
        self.top = max(self.top, max(n for n, _ in new))
        return new, self._apply()

    def _apply(self) -> list[Applied]:
        """Apply the decrees from ``known`` on that have passed (every priest, every decree:
        the loop keeps what it touches in locals)."""
        applied: list[Applied] = []
        decrees, first_of, new = self.decrees, self._dedup.first, tuple.__new__
        n = self.known
        decree = decrees.get(n)
        while decree is not None:
            pid = decree.petition
            first = n if pid == "" else first_of(n, pid)
            if pid[:1] == INTERNAL and first == n:
                self.members.apply(n, decree)
            applied.append(new(Applied, (n, decree, first)))   # Applied(...), at half the cost
            n += 1
            decree = decrees.get(n)
        self.known = n
        self._applied += applied
        self.trim()
        return applied

    def trim(self) -> None:
        """Forget decrees the archive holds that are more than ``memory`` below ``known``,
        or, while the bodies in memory take more than ``memory_bytes``, the oldest the
        archive holds."""
        if self.archive is None:
            return
        decrees, end, start = self.decrees, self.archive.end, self.floor
        floor = min(self.known - self.memory, end)
        while self.floor < floor or (self.bytes > self.memory_bytes
                                     and self.floor < min(self.known, end)):
            gone = decrees.pop(self.floor, None)
            if gone is not None:
                self.bytes -= len(gone.body)
            self.floor += 1
        if self.floor > start:
            del self._applied[: self.floor - start]

    def members_at(self, n: int) -> frozenset[int] | None:
        """The members that govern decree ``n``, if this law decides it yet."""
        return self.members.at(n, self.known)

    def is_first(self, n: int, petition: str) -> bool:
        """Would ``petition`` passed at decree ``n`` be applied there, as new?  (Its first
        passing is not in this law, or is older than the dedup window at ``n``.)"""
        first = self._dedup.first_of.get(petition)
        return first is None or first < n - self._dedup.window

    def get(self, n: int) -> Decree | None:
        if n < self.floor:
            got = self.read(n, 1)
            return got[0].decree if got else None
        return self.decrees.get(n)

    def is_passed(self, n: int) -> bool:
        return n < self.known or n in self.decrees

    def highest(self) -> int:
        """The highest decree number known passed, or -1."""
        return max(self.top, self.known - 1)

    def read(self, start: int, limit: int) -> list[Applied]:
        """Up to ``limit`` applied decrees from ``start`` (below ``known``), from the archive
        and from memory, each with the number where its petition first passed."""
        stop = min(self.known, start + max(0, limit))
        out: list[Applied] = []
        if start < self.floor and self.archive is not None and start < stop:
            out.extend(self.archive.read(start, min(stop, self.floor) - start))
        n = start + len(out)
        if n >= self.floor:
            out += self._applied[n - self.floor : stop - self.floor]
        return out

    def passed_from(self, start: int, limit: int) -> tuple[Entry, ...]:
        """Up to ``limit`` consecutive passed decrees from ``start`` (a transcript)."""
        out: list[Entry] = [(e.n, e.decree) for e in self.read(start, limit)]
        n = start + len(out)
        while len(out) < limit and n >= self.known and n in self.decrees:
            out.append((n, self.decrees[n]))
            n += 1
        return tuple(out)
