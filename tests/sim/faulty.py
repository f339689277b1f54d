"""Deliberately broken priests, for proving that the simulator's checks can fail.

Each variant breaks one rule the paper depends on.  The tests run the
simulator against each and fail if the bug is *not* found.
"""

from __future__ import annotations

from paxos_redis.protocol import Decree, NextBallot, President, Priest


class ForgetfulPriest(Priest):
    """Promises in memory but never writes the promise in its ledger."""

    def promise(self, ballot):  # type: ignore[no-untyped-def]
        self.next_bal = ballot


class HeedlessPresident(President):
    """Ignores B3: never re-proposes the decrees the quorum reported voting for."""

    def choose(self, n: int) -> Decree | None:
        return None


class HeedlessPriest(Priest):
    president_class = HeedlessPresident


class ShortQuorumPresident(President):
    """A "majority" one priest short, so two quorums need not share a priest (breaks B2)."""

    def prepared(self, n: int) -> frozenset[int] | None:
        members = self.priest.law.members_at(n)
        if members is None:
            return None
        promised = sum(1 for m in members if m in self.promises)
        return members if promised >= len(members) // 2 else None

    def fill(self) -> None:
        super().fill()
        for proposal in self.proposals.values():
            proposal.need = max(1, len(proposal.members) // 2)


class ShortQuorumPriest(Priest):
    president_class = ShortQuorumPresident


__all__ = ["ForgetfulPriest", "HeedlessPriest", "ShortQuorumPriest", "NextBallot"]
