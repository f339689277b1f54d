"""Deliberately broken priests, for proving that the simulator's checks can fail.

Each variant breaks one rule the paper depends on (two changes in flight breaks a
pair, either of which alone keeps the law safe).  The tests run the simulator against
each and fail if the bug is *not* found.
"""

from __future__ import annotations

from paxos_redis.protocol import (
    Change,
    Decree,
    Identity,
    Membership,
    NextBallot,
    President,
    Priest,
    Rules,
)


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


# ---------------------------------------------------------------- membership

class HastyMembership(Membership):
    """A change takes effect at once: the newest membership a priest knows governs every
    decree number, and a president proposes as far ahead as its window goes.

    Breaks the rule that the membership of decree ``n`` is the one the law below
    ``n - alpha + 1`` decides (so the law below ``known`` decides every number below
    ``known + alpha``, and nothing beyond is proposed).  The law itself is unchanged:
    one change at a time, ``alpha`` decrees apart.  Unsafe because two presidents
    that know different amounts of law count the votes for one number in different
    memberships.  One change apart, majorities still meet; two apart, they need not:
    founded {A, B, C}, D and E admitted, a president that has not learned that yet
    (it missed them, and starts from where a promiser's law ends) passes with {A, B},
    a current one with {C, D, E}; or C, replaced by D while it was down, comes back
    and passes with {A, C} what a current president passes with {B, D}.
    """

    def at(self, n: int, known: int) -> frozenset[int] | None:
        return self.latest() if self.founded else None

    def until(self, n: int, known: int) -> int:
        return n + 1

    def ahead(self, known: int) -> frozenset[int]:
        return self.latest()


class EagerMembership(Membership):
    """Two changes in flight: a change governs from the next decree number, so none is
    pending once it passed, and the next may pass right after it; a president still
    proposes up to ``known + alpha`` in the membership the law it knows decides.

    Breaks the pair of rules that keep a president's view of a number exact: a change
    waits ``alpha`` decrees before it governs (so the law below ``known`` decides every
    number below ``known + alpha``), and it is void if another is pending.  Either one
    alone is safe (with ``alpha``, the membership of ``n`` is fixed by the law below
    ``n - alpha + 1``; one change per ``alpha`` decrees, a president's view of a number
    in its range misses at most one change, and majorities of consecutive memberships
    meet).  Together they are not: a president that knows the law below ``k`` counts
    ``n`` in ``[k, k + alpha)`` in a membership that two changes passed in ``[k, n)``
    have already replaced, and its majority need not meet a current president's.
    """

    def _change(self, n: int, change: Change) -> bool:
        pending, self.pending_until = self.pending_until, 0     # nothing waits
        if not super()._change(n, change):
            self.pending_until = pending
            return False
        self.configs[-1] = (n + 1, self.configs[-1][1])          # governs at once
        self.pending_until = n + 1
        return True


class HastyPriest(Priest):
    def __init__(self, identity: Identity, rules: Rules | None = None, **limits: int) -> None:
        super().__init__(identity, rules, **limits)
        self.law.members = HastyMembership()      # restored ones keep its type (copy())


class EagerPriest(Priest):
    def __init__(self, identity: Identity, rules: Rules | None = None, **limits: int) -> None:
        super().__init__(identity, rules, **limits)
        self.law.members = EagerMembership()


__all__ = ["EagerPriest", "ForgetfulPriest", "HastyPriest", "HeedlessPriest", "NextBallot",
           "ShortQuorumPriest"]
