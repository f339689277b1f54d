"""Quorums (the paper's B2): any two quorums share a priest.

Quorums are majorities of the seats in force, so any two intersect.
"""

from __future__ import annotations

from collections.abc import Iterable


def majority(seats: int) -> int:
    """The size of the smallest majority of ``seats`` priests."""
    return seats // 2 + 1


class Quorum:
    """The membership in force: seats ``0 .. seats-1``, majorities of them."""

    __slots__ = ("seats", "size")

    def __init__(self, seats: int) -> None:
        if seats < 1:
            raise ValueError(f"a parliament needs at least one seat, got {seats}")
        self.seats = seats
        self.size = majority(seats)

    def members(self) -> range:
        return range(self.seats)

    def reached(self, voters: Iterable[int]) -> bool:
        return sum(1 for seat in set(voters) if 0 <= seat < self.seats) >= self.size
