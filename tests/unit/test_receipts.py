"""Receipts: voters tell a citizen their votes when the president vouches for the number.

The president names the citizen in a begin ballot only when the decree number is the
lowest it does not know passed and its law does not hold the petition; then that number
is where the law applies the petition, and a majority of receipts at one ballot answers
the citizen.  Receipts leave with the messages that wait for the vote's fsync.
"""

from __future__ import annotations

from chamber import IDS, P0, P1, P2, P3, Chamber, make, unit_rules
from test_president import A, B, C

from paxos_redis.protocol import (
    Ballot,
    BeginBallot,
    Change,
    Effects,
    Receipt,
    Rules,
    Votes,
)
from paxos_redis.protocol.codec import decode, encode


class Counted(Chamber):
    """A chamber that keeps every receipt sent, by citizen."""

    def __init__(self, members: int, rules: Rules | None = None, **kw: int) -> None:
        self.receipts: list[Receipt] = []
        super().__init__(members, rules, **kw)

    def absorb(self, i: int, eff: Effects) -> Effects:
        for r in eff.receipts:                  # a receipt names the priest that voted
            assert r.priest == self.ids[i]
        self.receipts.extend(eff.receipts)
        return super().absorb(i, eff)

    def ask(self, i: int, *decrees, citizen: str = "c-1") -> Effects:
        replies = {decree.petition: citizen for decree in decrees}
        return self.absorb(i, self.priests[i].petition(decrees, replies))

    def answered(self) -> dict[str, int]:
        """What a citizen counting these receipts learns: petition -> decree number, once a
        majority of the ``of`` members a receipt names sent one at one number and ballot."""
        tally: dict[tuple[str, int, Ballot, int], set[int]] = {}
        out: dict[str, int] = {}
        for r in self.receipts:
            voters = tally.setdefault((r.petition, r.n, r.ballot, r.of), set())
            voters.add(r.priest)
            if len(voters) > r.of // 2:
                out.setdefault(r.petition, r.n)
        return out


def elected(members: int = 3, listeners: int = 0, **rules: object) -> Counted:
    chamber = Counted(members, unit_rules(announce=1, thrifty=False, **rules),  # type: ignore[arg-type]
                      listeners=listeners)
    chamber.start(0)
    chamber.deliver()
    return chamber


def begins(chamber: Chamber) -> list[BeginBallot]:
    return [m for _, _, m in chamber.sent if isinstance(m, BeginBallot)]


def test_one_petition_at_a_time_is_answered_by_receipts_at_its_number() -> None:
    chamber = elected()
    for decree in (A, B, C):
        chamber.ask(0, decree)
        chamber.deliver()
    assert chamber.answered() == {"a": 1, "b": 2, "c": 3}
    assert [e.decree for e in chamber.applied[1]] == [A, B, C]
    assert {r.citizen for r in chamber.receipts} == {"c-1"}
    assert all(r.of == 3 for r in chamber.receipts)
    assert {r.priest for r in chamber.receipts} == set(IDS[:3])
    assert [m.receipt for m in begins(chamber)][-1] == (3, "c-1", 3)


def test_only_members_are_asked_for_receipts_and_counted_among_them() -> None:
    chamber = elected(3, listeners=2)
    chamber.ask(0, A)
    chamber.deliver()
    assert chamber.answered() == {"a": 1}
    assert {r.priest for r in chamber.receipts} <= set(IDS[:3])
    assert all(r.of == 3 for r in chamber.receipts)


def test_receipts_count_among_the_members_governing_their_number() -> None:
    chamber = Counted(3, unit_rules(announce=1, thrifty=False), listeners=1, alpha=2)
    chamber.elect(0)
    chamber.absorb(0, chamber.priests[0].propose(Change("admit", P3), "n1"))
    chamber.deliver()                       # passed at 1, governs from 3 (2: an olive day)
    chamber.receipts.clear()
    chamber.ask(0, A)
    chamber.deliver()
    assert chamber.law(0)[-1] == A and chamber.priests[0].law.known == 4
    assert chamber.answered() == {"a": 3}
    assert {r.of for r in chamber.receipts} == {4} and P3 in {r.priest for r in chamber.receipts}


def test_the_voters_receipt_follows_its_vote_in_the_same_step() -> None:
    priest = make(1, 3)
    message = BeginBallot(P0, Ballot(1, P0), 4, ((4, A), (5, B)), (4, "c-9", 5))
    eff = priest.receive(message)
    assert isinstance(eff.records[0], Votes)
    assert eff.receipts == [Receipt("c-9", P1, 5, Ballot(1, P0), 4, "a")]   # of: as vouched
    assert not eff.notes_only               # so the worker syncs before it sends the receipt


def test_a_receipt_naming_another_entry_than_the_first_is_ignored() -> None:
    priest = make(1, 3)
    eff = priest.receive(BeginBallot(P0, Ballot(1, P0), 4, ((4, A), (5, B)), (5, "c-9", 3)))
    assert eff.receipts == []


def test_a_refused_begin_ballot_sends_no_receipt() -> None:
    priest = make(1, 3)
    priest.receive(BeginBallot(P2, Ballot(5, P2), 1, ((1, C),)))
    eff = priest.receive(BeginBallot(P0, Ballot(1, P0), 1, ((1, A),), (1, "c-9", 3)))
    assert eff.receipts == [] and eff.records == []


def test_no_receipt_while_a_lower_number_is_undecided() -> None:
    """Petitions behind others in flight get numbers above ``known``: the president cannot
    vouch that a lower number will not hold the same petition, so only its reply counts."""
    chamber = elected()
    chamber.ask(0, A, B, C)
    assert [m.receipt for m in begins(chamber)][-1] == (1, "c-1", 3)   # only the first entry
    chamber.deliver()
    assert chamber.answered() == {"a": 1}
    assert [e.decree for e in chamber.applied[0]] == [A, B, C]


def test_no_receipt_for_a_petition_already_in_the_law() -> None:
    """A retry of a passed petition is proposed again (a no-op copy); the number it takes
    is not where the law applies it, so no receipt names it."""
    chamber = elected()
    chamber.ask(0, A)
    chamber.deliver()
    chamber.receipts.clear()
    chamber.ask(0, B)
    chamber.deliver()
    chamber.receipts.clear()
    chamber.ask(0, A)                               # a retry reaching the core
    chamber.deliver()
    assert chamber.receipts == []
    assert [e.first for e in chamber.applied[0]] == [1, 2, 1]


def test_no_receipt_without_a_citizen_to_send_it_to() -> None:
    chamber = elected()
    chamber.petition(0, A)
    chamber.deliver()
    assert chamber.receipts == [] and chamber.law(1) == [A]


def test_a_resent_begin_ballot_still_names_the_citizen() -> None:
    chamber = elected(resend_ticks=1)
    chamber.ask(0, A)
    chamber.lose_all()                              # the first begin ballots are lost
    chamber.tick(0)
    chamber.deliver()
    assert chamber.answered() == {"a": 1}


def test_the_receipt_field_round_trips_and_is_checked() -> None:
    message = BeginBallot(P0, Ballot(1, P0), 4, ((4, A),), (4, "c-1", 3))
    fields = encode(message)
    assert fields[b"receipt"] == b"4 c-1 3" and decode(fields) == message
    assert b"receipt" not in encode(BeginBallot(P0, Ballot(1, P0), 4, ((4, A),)))
