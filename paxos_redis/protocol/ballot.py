"""Ballot numbers (the paper's B1: every ballot number is unique).

A ballot number is a pair ``(round, priest)`` ordered lexicographically.  Two
priests can never start the same ballot, because the priest's identity is part of
the number (identities are unique: see :mod:`.membership`); one priest never starts
the same ballot twice, because it writes its ``last_tried`` ballot in its ledger
before sending *next ballot*.
"""

from __future__ import annotations

from dataclasses import dataclass

from paxos_redis.errors import ProtocolError


@dataclass(frozen=True, order=True, slots=True)
class Ballot:
    """A ballot number: ``round`` first, then the identity of the ``priest`` that owns it."""

    round: int
    priest: int

    def __post_init__(self) -> None:
        if not isinstance(self.round, int) or isinstance(self.round, bool) \
                or not 0 <= self.round < 2**64:
            raise ProtocolError(f"ballot round must be an int in [0, 2**64), got {self.round!r}")
        if not isinstance(self.priest, int) or isinstance(self.priest, bool) \
                or not -1 <= self.priest < 2**63:
            raise ProtocolError(f"ballot priest must be an int in [-1, 2**63), got {self.priest!r}")

    def successor(self, priest: int) -> Ballot:
        """The lowest ballot number owned by ``priest`` that is above this one."""
        if priest > self.priest:
            return Ballot(self.round, priest)
        return Ballot(self.round + 1, priest)

    def encode(self) -> str:
        return f"{self.round}.{self.priest}"

    @classmethod
    def parse(cls, text: str) -> Ballot:
        """Parse ``"round.priest"``; raises :class:`ProtocolError` on anything else."""
        parts = text.split(".")
        priest = parts[1][1:] if len(parts) == 2 and parts[1].startswith("-") else parts[-1]
        if len(parts) != 2 or not all(
            p.isascii() and p.isdigit() and len(p) <= 20 for p in (parts[0], priest)
        ):
            raise ProtocolError(f"ballot must look like 'round.priest' in decimal, got {text!r}")
        try:
            return cls(int(parts[0]), int(parts[1]))
        except ProtocolError as exc:
            raise ProtocolError(f"ballot {text!r}: {exc}") from None

    def __str__(self) -> str:
        return self.encode()


#: Below every real ballot: "no ballot yet" (a priest that never promised).
ZERO = Ballot(0, -1)
