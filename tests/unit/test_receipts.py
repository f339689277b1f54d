"""Receipts: voters tell a citizen their votes when the president vouches for the number.

The president names the citizen in a begin ballot only when the decree number is the
lowest it does not know passed and its law does not hold the petition; then that number
is where the law applies the petition, and a majority of receipts at one ballot answers
the citizen.  Receipts leave with the messages that wait for the vote's fsync.
"""

from __future__ import annotations

from test_president import A, B, C, Chamber

from paxos_redis.protocol import (
    Ballot,
    BeginBallot,
    Effects,
    Priest,
    Receipt,
    Rules,
    Seat,
    Votes,
)
from paxos_redis.protocol.codec import decode, encode


class Counted(Chamber):
    """A chamber that keeps every receipt sent, by citizen."""

    def __init__(self, seats: int, rules: Rules | None = None) -> None:
        super().__init__(seats, rules)
        self.receipts: list[Receipt] = []

    def absorb(self, seat: int, eff: Effects) -> Effects:
        self.receipts.extend(eff.receipts)
        return super().absorb(seat, eff)

    def ask(self, seat: int, *decrees, citizen: str = "c-1") -> Effects:
        replies = {decree.petition: citizen for decree in decrees}
        return self.absorb(seat, self.priests[seat].petition(decrees, replies))

    def answered(self, seats: int) -> dict[str, int]:
        """What a citizen counting these receipts learns: petition -> decree number."""
        tally: dict[tuple[str, int, Ballot], set[int]] = {}
        out: dict[str, int] = {}
        for r in self.receipts:
            voters = tally.setdefault((r.petition, r.n, r.ballot), set())
            voters.add(r.seat)
            if len(voters) > seats // 2:
                out.setdefault(r.petition, r.n)
        return out


def elected(seats: int = 3, **rules: object) -> Counted:
    chamber = Counted(seats, Rules(announce=1, thrifty=False, **rules))  # type: ignore[arg-type]
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
    assert chamber.answered(3) == {"a": 0, "b": 1, "c": 2}
    assert [e.decree for e in chamber.enacted[1]] == [A, B, C]
    assert {r.citizen for r in chamber.receipts} == {"c-1"}
    assert all(r.seats == 3 for r in chamber.receipts)
    assert [m.receipt for m in begins(chamber)][-1] == (2, "c-1")


def test_the_voters_receipt_follows_its_vote_in_the_same_step() -> None:
    priest = Priest(Seat("senate", 1, 3))
    message = BeginBallot(0, Ballot(1, 0), 4, ((4, A), (5, B)), (4, "c-9"))
    eff = priest.receive(message)
    assert isinstance(eff.records[0], Votes)
    assert eff.receipts == [Receipt("c-9", 1, 3, Ballot(1, 0), 4, "a")]
    assert not eff.notes_only               # so the worker syncs before it sends the receipt


def test_a_receipt_naming_another_entry_than_the_first_is_ignored() -> None:
    priest = Priest(Seat("senate", 1, 3))
    eff = priest.receive(BeginBallot(0, Ballot(1, 0), 4, ((4, A), (5, B)), (5, "c-9")))
    assert eff.receipts == []


def test_a_refused_begin_ballot_sends_no_receipt() -> None:
    priest = Priest(Seat("senate", 1, 3))
    priest.receive(BeginBallot(2, Ballot(5, 2), 0, ((0, C),)))
    eff = priest.receive(BeginBallot(0, Ballot(1, 0), 0, ((0, A),), (0, "c-9")))
    assert eff.receipts == [] and eff.records == []


def test_no_receipt_while_a_lower_number_is_undecided() -> None:
    """Petitions behind others in flight get numbers above ``known``: the president cannot
    vouch that a lower number will not hold the same petition, so only its reply counts."""
    chamber = elected()
    chamber.ask(0, A, B, C)
    assert [m.receipt for m in begins(chamber)][-1] == (0, "c-1")   # only the first entry
    chamber.deliver()
    assert chamber.answered(3) == {"a": 0}
    assert [e.decree for e in chamber.enacted[0]] == [A, B, C]


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
    assert [e.first for e in chamber.enacted[0]] == [0, 1, 0]


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
    assert chamber.answered(3) == {"a": 0}


def test_the_receipt_field_round_trips_and_is_checked() -> None:
    message = BeginBallot(0, Ballot(1, 0), 4, ((4, A),), (4, "c-1"))
    fields = encode(message)
    assert fields[b"receipt"] == b"4 c-1" and decode(fields) == message
    assert b"receipt" not in encode(BeginBallot(0, Ballot(1, 0), 4, ((4, A),)))
