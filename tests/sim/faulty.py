"""Deliberately broken priests, for proving that the simulator's checks can fail.

Each variant breaks one rule the paper depends on.  The tests run the
simulator against each and fail if the bug is *not* found.
"""

from __future__ import annotations

from paxos_redis.protocol import Decree, NextBallot, President, Priest, Quorum, Rules, Seat


class ForgetfulPriest(Priest):
    """Promises in memory but never writes the promise in its ledger."""

    def promise(self, ballot):  # type: ignore[no-untyped-def]
        self.next_bal = ballot


class HeedlessPresident(President):
    """Ignores B3: never re-proposes the decrees the quorum reported voting for."""

    def choose(self) -> dict[int, Decree]:
        law = self.priest.law
        start = max([law.known] + [lv.known for lv in self.promises.values()])
        self.next_n = max(start, law.highest() + 1)
        return {}


class HeedlessPriest(Priest):
    president_class = HeedlessPresident


class ShortQuorum(Quorum):
    """A "majority" one priest short, so two quorums need not share a priest (breaks B2)."""

    def __init__(self, seats: int) -> None:
        super().__init__(seats)
        self.size -= 1


class ShortQuorumPriest(Priest):
    def __init__(self, seat: Seat, rules: Rules | None = None) -> None:
        super().__init__(seat, rules)
        self.quorum = ShortQuorum(seat.seats)


__all__ = ["ForgetfulPriest", "HeedlessPriest", "ShortQuorumPriest", "NextBallot"]
