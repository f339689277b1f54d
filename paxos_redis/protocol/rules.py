"""Tunable rules of procedure, shared by priest and president (all counts, no clock).

The defaults here are the running parliament's: a worker runs by ``Rules()`` unless
PAXOS_RULES changes some of them (:mod:`paxos_redis.runtime.settings`).  Tests and the
simulator that want other sizes or patience say so with explicit values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

E = TypeVar("E")

#: the largest decree body (bytes) a priest votes for or takes as a petition, unless its
#: runtime gives it another limit (PAXOS_MAX_DECREE_BYTES)
MAX_DECREE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Rules:
    """Sizes and patience of the Parliament, in decrees and in ticks of the worker's clock."""

    #: decree numbers a president keeps in flight at once (pipelining)
    window: int = 1024
    #: ... and the most bytes of decree bodies it keeps in flight (at least one decree)
    window_bytes: int = 8 << 20
    #: most decrees in one begin-ballot, successful-ballot or transcript message (batching)
    batch: int = 256
    #: ... and the most bytes of decree bodies in one (at least one decree)
    batch_bytes: int = 1 << 20
    #: ticks before a president sends an unanswered next/begin ballot again
    resend_ticks: int = 5
    #: ticks a priest waits between inquiries for decrees it missed; it first waits
    #: ``announce_ticks + inquiry_ticks`` for law it saw another priest know to be announced
    inquiry_ticks: int = 3
    #: ticks a deposed president waits (times its rank among the members + 1) before it
    #: tries again, unless it hears from a new president
    retry_ticks: int = 5
    #: ticks without hearing from a president after which a priest forgets who it was
    president_ticks: int = 25
    #: passed decrees a priest keeps in memory below ``known`` (older ones are read from
    #: its archive, the law file, when an archive is given; without one nothing is dropped)
    law_memory: int = 10_000
    #: ... but fewer once their bodies take more than this many bytes (large decrees)
    law_memory_bytes: int = 64 << 20
    #: decrees after its first passing during which a petition id counts as a retry (and
    #: is applied once); later, the same id is a new petition.  Every priest of a
    #: parliament must use the same value: it decides which decrees the law applies
    dedup_window: int = 200_000
    #: decrees a president lets pass before it announces them at once; fewer wait (at most
    #: ``announce_ticks``) and go in one successful-ballot message (1: announce every
    #: vote's decrees)
    announce: int = 256
    #: ticks between a president's announcements of fewer than ``announce`` decrees: each
    #: one wakes every other priest, and only they (not the citizens) wait for it
    announce_ticks: int = 4
    #: send a begin ballot to a bare majority (the president and the priests that answered
    #: it last), not to every priest: fewer priests woken per decree; the others learn the
    #: decrees from the announcement, and get the begin ballot if one asked is slow
    thrifty: bool = True

    def __post_init__(self) -> None:
        for name in ("window", "window_bytes", "batch", "batch_bytes", "resend_ticks",
                     "inquiry_ticks", "retry_ticks", "president_ticks", "law_memory",
                     "law_memory_bytes", "dedup_window", "announce", "announce_ticks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"rule {name} must be a positive int, got {value!r}")

    def chunks(self, entries: Sequence[E], body: Callable[[E], int]) -> Iterator[Sequence[E]]:
        """``entries`` in consecutive chunks of at most ``batch`` entries and ``batch_bytes``
        bytes of bodies (``body(entry)``), each of at least one entry."""
        start, size, count, limit = 0, 0, 0, self.batch_bytes
        for i, entry in enumerate(entries):
            length = body(entry)
            if count and (count == self.batch or size + length > limit):
                yield entries[start:i]
                start, size, count = i, 0, 0
            size += length
            count += 1
        if count:
            yield entries[start:]
