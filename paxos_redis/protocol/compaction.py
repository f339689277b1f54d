"""Compaction: keep a priest's ledger and memory bounded however long the law grows.

Between batches (every record durable), when enough law has been applied since the
last compaction, the runtime:

1. appends the applied law not yet archived to the archive and fsyncs it (the law
   file beside the ledger: :mod:`paxos_redis.storage.archive`);
2. replaces the ledger with the priest's :meth:`~paxos_redis.protocol.Priest.snapshot`
   (identity, ``Archived(known)``, the membership, promise, last ballot tried, votes for undecided decree
   numbers, decrees passed above a hole): new file, fsync, rename, fsync the directory;
3. lets the core forget decrees now archived beyond its memory window.

Persist, then forget: the ledger drops nothing the archive does not hold durably.  A
crash after 1 leaves the old ledger beside a longer archive (replay skips what the
archive holds); a crash in 2 leaves the old ledger or the new one (the rename is
atomic); a torn archive tail is dropped on open, and an archive shorter than the
ledger's ``Archived`` mark is refused.  The simulator runs this same function with
crash points between the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from paxos_redis.protocol import Applied, Priest, Record


class WritableArchive(Protocol):
    @property
    def end(self) -> int: ...  # pragma: no cover - a protocol

    def append(self, entries: Sequence[Applied]) -> None: ...  # pragma: no cover


def due(priest: Priest, archive: WritableArchive, every: int) -> bool:
    """At least ``every`` applied decrees are not archived yet, or fewer whose bodies
    take about half the law's ``memory_bytes`` (which it cannot free until they are)."""
    law = priest.law
    unarchived = law.known - archive.end
    if unarchived >= every:
        return True
    if unarchived <= 0 or not law.decrees or law.bytes < law.memory_bytes // 2:
        return False
    return unarchived * law.bytes / len(law.decrees) >= law.memory_bytes // 2


def compact(priest: Priest, archive: WritableArchive,
            replace: Callable[[list[Record]], None]) -> int:
    """Archive the applied law, then ``replace`` the ledger with the snapshot; returns how
    many decrees were archived.  Call only between steps, with nothing pending."""
    law = priest.law
    entries = law.read(archive.end, law.known - archive.end)
    if len(entries) != law.known - archive.end:
        raise RuntimeError(f"the law in memory starts at {law.floor}, above the archive's end "
                           f"{archive.end}: nothing may be forgotten before it is archived")
    archive.append(entries)        # durable before the ledger forgets them
    replace(priest.snapshot())
    law.trim()
    return len(entries)
