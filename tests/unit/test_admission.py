"""What a priest admits, decided in the core (the worker only dead-letters or replies).

* A president's message is at a ballot its sender owns (B1: each ballot number belongs to
  one priest); another is refused, and changes nothing.
* A priest never votes for a decree over its ``max_decree_bytes``: a begin ballot asking
  for one is refused whole.
* A citizen's petition is triaged before it is proposed: refused (over the limit, or an
  id the parliament keeps for itself), answered from the law (a retry), or proposed.
* A begin ballot sent to other priests that asks its voters for receipts vouches for its
  petition, and the step's effects say so (the receipts answer the citizen).
"""

from __future__ import annotations

import pytest
from chamber import P0, P1, P2, Chamber, ledger, make, unit_rules

from paxos_redis.errors import Refused
from paxos_redis.protocol import (
    ZERO,
    Answer,
    Ballot,
    BeginBallot,
    Decree,
    Effects,
    FailedBallot,
    LastVote,
    Message,
    NextBallot,
    Petition,
    Priest,
    SuccessfulBallot,
    Voted,
    VoteNo,
)
from paxos_redis.protocol.rules import MAX_DECREE_BYTES

A, B = Decree("a", b"a"), Decree("b", b"b")
MINE = Ballot(3, P0)                                 # P0's own ballot
STOLEN = Ballot(3, P2)                               # P2's, sent by P0


# ---------------------------------------------------------------- a president's ballot


@pytest.mark.parametrize("message", [
    NextBallot(P0, STOLEN, 1, 1),
    BeginBallot(P0, STOLEN, 1, ((1, A),)),
    SuccessfulBallot(P0, STOLEN, 2, ((1, A),)),
    FailedBallot(P0, STOLEN, 1),
], ids=lambda m: type(m).__name__)
def test_a_presidents_message_at_a_ballot_its_sender_does_not_own_is_refused(
        message: Message) -> None:
    p = make(1, 3)
    with pytest.raises(Refused, match=r"ballot 3\.\d+ is not 0a1100000001's"):
        p.receive(message)
    assert (p.next_bal, p.votes, p.law.known, p.stamp, p.hint) == (ZERO, {}, 1, 0, None)
    assert p.highest_seen == ZERO                       # not even observed


def test_the_same_message_at_the_senders_own_ballot_is_taken() -> None:
    p = make(1, 3)
    eff = p.receive(NextBallot(P0, MINE, 1, 1))
    assert p.next_bal == MINE and [(to, type(m)) for to, m in eff.messages] == [(P0, LastVote)]


def test_a_priests_answer_carries_the_presidents_ballot_and_is_not_refused() -> None:
    p = make(0, 3)
    p.start_ballot()
    ballot = p.last_tried
    assert ballot.priest == P0
    eff = p.receive(VoteNo(P1, ballot, 1, Ballot(9, P2)))   # a priest's message: not its ballot
    assert p.president is not None and p.president.phase == "deposed"
    assert [type(m) for _, m in eff.messages] == [FailedBallot, FailedBallot]


# ---------------------------------------------------------------- the decree limit


def limited(limit: int) -> Priest:
    priest = Priest.restore(ledger(P1), unit_rules(), max_decree_bytes=limit)
    assert priest.law.known == 1
    return priest


def test_a_begin_ballot_with_a_decree_over_the_limit_gets_no_vote_at_all() -> None:
    p = limited(8)
    big = Decree("big", b"x" * 9)
    with pytest.raises(Refused, match="decree 2 of 9 bytes, over this priest's limit of 8"):
        p.receive(BeginBallot(P0, MINE, 1, ((1, A), (2, big))))
    assert (p.next_bal, p.votes, p.stamp) == (ZERO, {}, 0)   # not even the small one
    eff = p.receive(BeginBallot(P0, MINE, 1, ((1, A), (2, Decree("full", b"x" * 8)))))
    assert p.votes.keys() == {1, 2} and eff.messages == [(P0, Voted(P1, MINE, 1, (1, 2)))]


def test_the_limit_binds_begin_ballots_only_not_the_law_already_passed() -> None:
    p = limited(8)
    big = Decree("big", b"x" * 9)
    eff = p.receive(SuccessfulBallot(P0, MINE, 2, ((1, big),)))   # passed: a majority took it
    assert [e.decree for e in eff.applied] == [big] and p.law.known == 2


def test_a_priest_runs_by_the_parliaments_default_limit_unless_given_one() -> None:
    assert make().max_decree_bytes == MAX_DECREE_BYTES == 1 << 20
    assert limited(5).max_decree_bytes == 5


# ---------------------------------------------------------------- petition triage


def test_a_new_petition_within_the_limit_goes_to_the_president() -> None:
    p = limited(8)
    assert p.triage(Decree("new", b"x" * 8)) is None


def test_a_petition_over_the_limit_is_refused_with_both_sizes() -> None:
    assert limited(8).triage(Decree("big", b"x" * 9)) == Answer(
        "big", error="decree of 9 bytes is over the limit of 8 bytes")


@pytest.mark.parametrize("pid", ["!found:g2", "!members:admit:000000000001:n"])
def test_a_petition_with_an_id_the_parliament_keeps_for_itself_is_refused(pid: str) -> None:
    answer = make().triage(Decree(pid, b"admit 000000000001"))
    assert answer is not None and answer.petition == pid and answer.n is None
    assert answer.error is not None and "the parliament's own" in answer.error


def test_a_retried_petition_is_answered_with_the_number_where_it_first_passed() -> None:
    p = make(1, 3)
    p.receive(SuccessfulBallot(P0, MINE, 3, ((1, B), (2, A))))
    assert p.triage(Decree("a", b"a")) == Answer("a", n=2)
    assert p.triage(Decree("a", b"another body")) == Answer("a", n=2)   # the id decides
    assert p.triage(Decree("c", b"c")) is None


def test_a_refusal_comes_before_the_law_is_consulted() -> None:
    p = limited(1)
    p.receive(SuccessfulBallot(P0, MINE, 2, ((1, A),)))
    answer = p.triage(Decree("a", b"too long"))
    assert answer is not None and answer.n is None and answer.error


@pytest.mark.parametrize("decree", [Decree("big", b"x" * (MAX_DECREE_BYTES + 1)),
                                    Decree("!members:admit:000000000009:n", b"admit")],
                         ids=["over_the_limit", "reserved_id"])
def test_a_forwarded_petition_is_triaged_by_the_president_too(decree: Decree) -> None:
    chamber = elected()
    eff = chamber.absorb(0, chamber.priests[0].receive(Petition(P1, 1, (decree, A))))
    proposed = {d for _, m in eff.messages if isinstance(m, BeginBallot) for _, d in m.entries}
    assert proposed == {A}                          # the refused one is never proposed


# ---------------------------------------------------------------- vouching


def elected(members: int = 3) -> Chamber:
    chamber = Chamber(members, unit_rules(announce=1, thrifty=False))
    chamber.elect(0)
    return chamber


def test_a_petition_whose_voters_are_asked_for_receipts_is_vouched_for() -> None:
    chamber = elected()
    eff = chamber.absorb(0, chamber.priests[0].petition([A, B], {"a": "c-1", "b": "c-1"}))
    begins = [(to, m) for to, m in eff.messages if isinstance(m, BeginBallot)]
    assert [to for to, _ in begins] == [P1, P2]
    assert {m.receipt for _, m in begins} == {(1, "c-1", 3)}
    assert eff.vouched == ("a",)                  # "b" at 2: only the president answers


def test_a_petition_with_no_citizen_named_is_not_vouched_for() -> None:
    chamber = elected()
    eff = chamber.absorb(0, chamber.priests[0].petition([A]))
    assert eff.vouched == () and eff.messages


def test_a_begin_ballot_resent_with_its_receipt_vouches_again() -> None:
    chamber = elected()
    chamber.absorb(0, chamber.priests[0].petition([A], {"a": "c-1"}))
    chamber.lose_all()
    resent = Effects()
    for _ in range(chamber.rules.resend_ticks):
        resent.extend(chamber.priests[0].tick())
    assert resent.vouched == ("a",)


def test_a_president_alone_vouches_for_nothing_its_begin_ballot_never_leaves() -> None:
    p = make(0, 1)
    p.start_ballot()
    eff = p.petition([A], {"a": "c-1"})
    assert [r.petition for r in eff.receipts] == ["a"]    # its own vote's receipt ...
    assert eff.vouched == () and eff.messages == []       # ... but no begin ballot left


def test_effects_carry_vouched_petitions_through_extend() -> None:
    total = Effects()
    total.extend(Effects(vouched=("a",)))
    total.extend(Effects())
    total.extend(Effects(vouched=("b",)))
    assert total.vouched == ("a", "b") and total
    assert not Effects() and Effects(vouched=("a",))
