"""The simulated world's pieces: its faults, the packets in flight, the priests' processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from paxos_redis.protocol import ZERO, Ballot, Decree, Message, Priest, Record
from paxos_redis.storage.archive import MemoryArchive


class Violation(AssertionError):
    """A safety or liveness property failed; the message carries the seed to replay."""


@dataclass
class Faults:
    """How hostile the world is (probabilities per step or per message)."""

    loss: float = 0.10
    duplicate: float = 0.05
    max_delay: int = 6
    crash: float = 0.02
    restart: float = 0.15
    partition: float = 0.01
    heal: float = 0.08
    rival: float = 0.01
    wipe: float = 0.003
    petition: float = 0.35
    #: membership changes' rates, scaled (see changes.py): 0 switches them off
    changes: float = 1.0
    #: per live priest and step: compact its ledger if enough law was applied (not a
    #: fault, but a crash may strike in the middle of it, at the ``crash`` rate)
    compact: float = 0.2

    @classmethod
    def none(cls) -> Faults:
        return cls(0, 0, 1, 0, 1, 0, 1, 0, 0, 0, changes=0)


@dataclass
class Packet:
    due: int
    src: int
    dst: int
    message: Message


@dataclass
class Node:
    """One priest's process: its in-memory core (None while down), its durable ledger and
    the archive compaction moved its old law to (both survive a crash)."""

    id: int
    durable: list[Record]
    priest: Priest | None = None
    archive: MemoryArchive = field(default_factory=MemoryArchive)
    max_promise: Ballot = ZERO
    max_tried: Ballot = ZERO
    voted: dict[tuple[int, Ballot], Decree] = field(default_factory=dict)
    #: old copies of its ledger and archive (for restores from a backup)
    backups: list[tuple[list[Record], MemoryArchive]] = field(default_factory=list)


def snapshot(p: Priest) -> tuple[object, ...]:
    """What a restart must reproduce: promise, last ballot tried, votes, the recent law and
    the dedup window as the next decree will see it (older entries are forgotten lazily)."""
    law, oldest = p.law, p.law.known - p.rules.dedup_window
    return (p.next_bal, p.last_tried, p.votes, p.stamp, law.members.configs, law.known,
            law.highest(),
            law.passed_from(max(0, law.known - 8), 8 + len(law.decrees)),
            sorted((pid, f) for pid, f in law.first_of.items() if f >= oldest))
