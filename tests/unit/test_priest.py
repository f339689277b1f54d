"""The priest (acceptor and learner), tied to the sentences of the Synod it implements."""

from __future__ import annotations

import pytest

from paxos_redis.protocol import (
    ZERO,
    Ballot,
    BeginBallot,
    Decree,
    Enacted,
    FailedBallot,
    Inquiry,
    LastVote,
    NextBallot,
    Passed,
    Petition,
    Priest,
    Promise,
    ProtocolError,
    Rules,
    Seat,
    SuccessfulBallot,
    Transcript,
    Tried,
    Voted,
    VoteNo,
    Votes,
)

A, B, C, D = (Decree(p, p.encode()) for p in "abcd")
B1, B2, B3 = Ballot(1, 0), Ballot(2, 2), Ballot(3, 0)


def make(seat: int = 1, seats: int = 3, rules: Rules | None = None) -> Priest:
    return Priest(Seat("senate", seat, seats), rules)


def test_seat_outside_the_parliament_is_refused() -> None:
    with pytest.raises(ProtocolError, match="seat 3 is outside a parliament of 3"):
        make(3, 3)


def test_a_new_priest_has_promised_nothing() -> None:
    p = make()
    assert p.next_bal == ZERO and p.last_tried == ZERO and p.votes == {} and p.law.known == 0
    assert not p.is_president


# ---------------------------------------------------------------- step 2: next ballot


def test_next_ballot_above_the_promise_is_promised_and_answered_in_one_step() -> None:
    """'writes the promise in its ledger ... and only then answers last vote'."""
    p = make()
    eff = p.receive(NextBallot(0, B1, 0, 0))
    assert eff.records == [Promise(B1)]
    assert eff.messages == [(0, LastVote(1, B1, 0, 0, (), ()))]
    assert p.next_bal == B1


def test_next_ballot_below_the_promise_gets_vote_no_with_the_promise() -> None:
    p = make()
    p.receive(NextBallot(2, B2, 0, 0))
    eff = p.receive(NextBallot(0, B1, 0, 0))
    assert eff.records == []
    assert eff.messages == [(0, VoteNo(1, B1, 0, B2))]
    assert p.next_bal == B2


def test_repeated_next_ballot_is_answered_without_a_second_promise() -> None:
    p = make()
    p.receive(NextBallot(0, B1, 0, 0))
    eff = p.receive(NextBallot(0, B1, 0, 0))
    assert eff.records == []
    assert [type(m) for _, m in eff.messages] == [LastVote]


def test_last_vote_reports_the_highest_ballot_vote_per_decree_from_from_n() -> None:
    """'v is its vote with the highest ballot number below b': per decree number >= from_n."""
    p = make()
    p.receive(BeginBallot(0, B1, 0, ((0, A), (1, B), (2, C))))
    p.receive(BeginBallot(2, B2, 0, ((1, D),)))
    eff = p.receive(NextBallot(0, B3, 0, 1))
    (_, lv), = eff.messages
    assert isinstance(lv, LastVote)
    assert lv.from_n == 1
    assert lv.votes == ((1, B2, D), (2, B1, C))


def test_last_vote_carries_decrees_known_passed_instead_of_their_votes() -> None:
    p = make(rules=Rules(batch=2))
    p.receive(BeginBallot(0, B1, 0, ((0, A), (1, B), (2, C), (3, D))))
    p.receive(SuccessfulBallot(0, B1, 3, ((0, A), (1, B), (2, C))))
    eff = p.receive(NextBallot(2, B2, 0, 0))
    (_, lv), = eff.messages
    assert lv.known == 3
    assert lv.votes == ((3, B1, D),)                 # below known: passed, not a vote
    assert lv.passed == ((0, A), (1, B))             # a catch-up batch of at most Rules.batch


def test_last_vote_sends_no_passed_decrees_when_the_president_knows_as_much() -> None:
    p = make()
    p.receive(SuccessfulBallot(0, B1, 1, ((0, A),)))
    (_, lv), = p.receive(NextBallot(2, B2, 1, 1)).messages
    assert lv.passed == ()


# ---------------------------------------------------------------- step 4: begin ballot


def test_begin_ballot_is_voted_with_a_votes_record_and_a_voted_reply() -> None:
    p = make()
    p.receive(NextBallot(0, B1, 0, 0))
    eff = p.receive(BeginBallot(0, B1, 0, ((0, A), (1, B))))
    assert eff.records == [Votes(B1, ((0, A), (1, B)))]
    assert eff.messages == [(0, Voted(1, B1, 0, (0, 1)))]
    assert p.votes == {0: (B1, A), 1: (B1, B)}


def test_a_resent_begin_ballot_is_answered_again_without_writing_its_votes_again() -> None:
    p = make()
    p.receive(BeginBallot(0, B1, 0, ((0, A),)))
    eff = p.receive(BeginBallot(0, B1, 0, ((0, A), (1, B)), (0, "c-1")))   # resent, and more
    assert eff.records == [Votes(B1, ((1, B),))]                  # only the new vote
    assert eff.messages == [(0, Voted(1, B1, 0, (0, 1)))]
    assert [(r.n, r.petition) for r in eff.receipts] == [(0, A.petition)]
    eff = p.receive(BeginBallot(0, B1, 0, ((0, A), (1, B))))
    assert eff.records == [] and eff.messages == [(0, Voted(1, B1, 0, (0, 1)))]
    eff = p.receive(BeginBallot(2, B2, 0, ((0, A),)))             # a higher ballot: a new vote
    assert eff.records == [Votes(B2, ((0, A),))] and p.next_bal == B2


def test_begin_ballot_above_the_promise_raises_the_promise_through_the_votes_record() -> None:
    p = make()
    eff = p.receive(BeginBallot(2, B2, 0, ((0, A),)))
    assert eff.records == [Votes(B2, ((0, A),))]
    assert p.next_bal == B2
    assert p.receive(NextBallot(0, B1, 0, 0)).messages == [(0, VoteNo(1, B1, 0, B2))]


def test_begin_ballot_below_the_promise_gets_vote_no_carrying_the_promise() -> None:
    p = make()
    p.receive(NextBallot(2, B2, 0, 0))
    eff = p.receive(BeginBallot(0, B1, 0, ((0, A),)))
    assert eff.records == []
    assert eff.messages == [(0, VoteNo(1, B1, 0, B2))]
    assert p.votes == {}


def test_empty_begin_ballot_does_nothing() -> None:
    p = make()
    assert not p.receive(BeginBallot(0, B1, 0, ()))
    assert p.next_bal == ZERO


# ---------------------------------------------------------------- step 5: successful ballot


def test_successful_ballot_writes_passed_and_enacts_in_order() -> None:
    p = make()
    eff = p.receive(SuccessfulBallot(0, B1, 2, ((1, B), (0, A))))
    assert eff.records == [Passed(((1, B), (0, A)))]
    assert eff.passed == [Enacted(0, A, 0), Enacted(1, B, 1)]
    assert p.law.known == 2


def test_successful_ballot_after_a_gap_is_written_but_enacted_only_when_filled() -> None:
    p = make()
    eff = p.receive(SuccessfulBallot(0, B1, 0, ((2, C),)))
    assert eff.records == [Passed(((2, C),))] and eff.passed == []
    eff = p.receive(SuccessfulBallot(0, B1, 0, ((0, A), (1, B))))
    assert [e.n for e in eff.passed] == [0, 1, 2]


def test_duplicate_successful_ballot_writes_nothing_new() -> None:
    p = make()
    p.receive(SuccessfulBallot(0, B1, 1, ((0, A),)))
    eff = p.receive(SuccessfulBallot(0, B1, 1, ((0, A),)))
    assert eff.records == [] and eff.passed == []


def test_learning_forgets_votes_below_known() -> None:
    p = make()
    p.receive(BeginBallot(0, B1, 0, ((0, A), (1, B), (2, C))))
    p.receive(SuccessfulBallot(0, B1, 2, ((0, A), (1, B))))
    assert set(p.votes) == {2}


def test_a_retried_petition_is_enacted_once() -> None:
    p = make()
    eff = p.receive(SuccessfulBallot(0, B1, 3, ((0, A), (1, B), (2, Decree("a", b"a")))))
    assert [(e.n, e.first, e.is_duplicate) for e in eff.passed] == [
        (0, 0, False), (1, 1, False), (2, 0, True)]


# ---------------------------------------------------------------- restore


def test_restore_from_records_reproduces_the_priest() -> None:
    p = make(1, 3)
    records: list = [Seat("senate", 1, 3)]
    for step in (
        p.receive(NextBallot(0, B1, 0, 0)),
        p.receive(BeginBallot(0, B1, 0, ((0, A), (1, B), (2, C), (5, D)))),
        p.receive(SuccessfulBallot(0, B1, 2, ((0, A), (1, B)))),
        p.receive(SuccessfulBallot(0, B1, 2, ((4, D),))),
        p.start_ballot(),
        p.receive(NextBallot(2, Ballot(9, 2), 2, 2)),
    ):
        records.extend(step.records)
    q = Priest.restore(records)
    assert q.seat == 1 and q.quorum.seats == 3 and q.parliament == "senate"
    assert q.next_bal == p.next_bal == Ballot(9, 2)
    assert q.last_tried == p.last_tried and q.last_tried > B1
    assert q.votes == p.votes == {2: (B1, C), 5: (B1, D)}
    assert q.law.decrees == p.law.decrees and q.law.known == p.law.known == 2
    assert q.law.first_of == p.law.first_of
    assert not q.is_president


def test_restored_priest_keeps_its_promise() -> None:
    q = Priest.restore([Seat("s", 0, 3), Promise(B2)])
    assert q.receive(NextBallot(1, B1, 0, 0)).messages == [(1, VoteNo(0, B1, 0, B2))]
    assert q.receive(BeginBallot(1, B1, 0, ((0, A),))).records == []


def test_restored_priest_starts_above_every_ballot_in_its_ledger() -> None:
    q = Priest.restore([Seat("s", 1, 3), Tried(Ballot(4, 1)), Promise(Ballot(6, 2))])
    eff = q.start_ballot()
    assert eff.records[0] == Tried(Ballot(7, 1))


def test_restore_needs_one_seat_record_first() -> None:
    with pytest.raises(ProtocolError, match="must begin with its Seat"):
        Priest.restore([Promise(B1)])
    with pytest.raises(ProtocolError, match="must begin with its Seat"):
        Priest.restore([])
    with pytest.raises(ProtocolError, match="one Seat record"):
        Priest.restore([Seat("s", 0, 3), Seat("s", 0, 3)])


# ---------------------------------------------------------------- step 1: start a ballot


def test_start_ballot_writes_tried_above_everything_seen_and_asks_every_seat() -> None:
    p = make(1, 5)
    p.receive(NextBallot(2, Ballot(5, 2), 0, 0))        # promised 5.2
    p.receive(FailedBallot(0, Ballot(9, 0), 0))          # seen 9.0
    eff = p.start_ballot()
    b = Ballot(9, 1)
    assert eff.records[0] == Tried(b)
    assert Promise(b) in eff.records                     # its own promise, via itself
    assert p.last_tried == b
    sent = [(seat, m) for seat, m in eff.messages if isinstance(m, NextBallot)]
    assert sorted(seat for seat, _ in sent) == [0, 2, 3, 4]
    assert {m for _, m in sent} == {NextBallot(1, b, 0, 0)}


def test_start_ballot_covers_every_decree_number_not_known_passed() -> None:
    p = make(0, 3)
    p.receive(SuccessfulBallot(1, B1, 2, ((0, A), (1, B))))
    (_, nb), *_ = p.start_ballot().messages
    assert isinstance(nb, NextBallot) and nb.from_n == 2 and nb.known == 2


def test_b1_successive_ballots_of_one_priest_increase_and_differ_across_priests() -> None:
    p0, p1 = make(0, 3), make(1, 3)
    tried = []
    for _ in range(3):
        for p in (p0, p1):
            eff = p.start_ballot()
            tried.append(eff.records[0].ballot)
            other = p1 if p is p0 else p0
            for seat, m in eff.messages:                 # the other priest sees the ballot
                if seat == other.seat:
                    other.receive(m)
    assert len(set(tried)) == len(tried)
    assert tried == sorted(tried)


def test_start_ballot_alone_in_a_parliament_of_one_passes_petitions() -> None:
    p = make(0, 1)
    p.start_ballot()
    assert p.is_president
    eff = p.petition([A, B])
    assert [e.decree for e in eff.passed] == [A, B]
    assert Votes(p.last_tried, ((0, A), (1, B))) in eff.records
    assert eff.records.index(Votes(p.last_tried, ((0, A), (1, B)))) < eff.records.index(
        Passed(((0, A), (1, B))))


# ---------------------------------------------------------------- presidents meet


def test_a_higher_ballot_from_another_priest_makes_the_president_resign() -> None:
    p = make(0, 3)
    p.start_ballot()
    mine = p.last_tried
    p.petition([A])                                      # queued while preparing
    higher = mine.successor(1)
    eff = p.receive(NextBallot(1, higher, 0, 0))
    assert p.president is None and not p.is_president
    assert (1, Petition(0, 0, (A,))) in eff.messages     # queued petitions handed over
    assert (1, LastVote(0, higher, 0, 0, (), ())) in eff.messages
    assert p.hint == 1


def test_a_lower_ballot_from_another_priest_does_not_depose() -> None:
    p = make(2, 3)
    p.start_ballot()
    lower = Ballot(0, 0)
    assert lower < p.last_tried == Ballot(0, 2)
    eff = p.receive(NextBallot(0, lower, 0, 0))
    assert p.president is not None
    assert eff.messages == [(0, VoteNo(2, lower, 0, p.last_tried))]


def test_failed_ballot_makes_the_priest_forget_that_president() -> None:
    p = make()
    p.receive(NextBallot(0, B1, 0, 0))
    assert p.hint == 0
    p.receive(FailedBallot(0, B1, 0))
    assert p.hint is None


def test_a_president_not_heard_from_is_forgotten_after_president_ticks() -> None:
    p = make(rules=Rules(president_ticks=3))
    p.receive(NextBallot(0, B1, 0, 0))
    for _ in range(3):
        p.tick()
    assert p.hint == 0
    p.tick()
    assert p.hint is None


# ---------------------------------------------------------------- petitions


def test_petition_at_a_priest_goes_to_the_president_it_follows() -> None:
    p = make(1, 3)
    p.receive(NextBallot(0, B1, 0, 0))
    eff = p.petition([A, B])
    assert eff.messages == [(0, Petition(1, 0, (A, B)))]


def test_forwarded_petition_is_not_forwarded_again() -> None:
    p = make(1, 3)
    p.receive(NextBallot(0, B1, 0, 0))
    assert p.receive(Petition(2, 0, (A,))).messages == []


def test_petition_without_a_president_is_not_sent_anywhere() -> None:
    assert make().petition([A]).messages == []


# ---------------------------------------------------------------- catching up


def test_inquiry_is_answered_by_a_transcript_from_the_asked_number() -> None:
    p = make(1, 3, Rules(batch=2))
    p.receive(SuccessfulBallot(0, B1, 3, ((0, A), (1, B), (2, C))))
    eff = p.receive(Inquiry(2, 1))
    assert eff.messages == [(2, Transcript(1, 3, ((1, B), (2, C))))]
    eff = p.receive(Inquiry(2, 0))
    assert eff.messages == [(2, Transcript(1, 3, ((0, A), (1, B))))]   # at most Rules.batch


def test_repeated_inquiries_piled_up_get_one_transcript_until_inquiry_ticks_pass() -> None:
    """A priest slow to read finds an inquirer's repeats together in its inbox: the
    transcript it sends covers them all, so it sends it once, not once per inquiry."""
    p = make(1, 3, Rules(batch=2, inquiry_ticks=2))
    p.receive(SuccessfulBallot(0, B1, 4, ((0, A), (1, B), (2, C), (3, D))))
    first = (2, Transcript(1, 4, ((0, A), (1, B))))
    assert p.receive(Inquiry(2, 0)).messages == [first]
    assert p.receive(Inquiry(2, 0)).messages == []           # the same, piled up
    assert p.receive(Inquiry(2, 1)).messages == []           # within what was just sent
    assert p.receive(Inquiry(0, 0)).messages == [(0, Transcript(1, 4, ((0, A), (1, B))))]
    assert p.receive(Inquiry(2, 2)).messages == [(2, Transcript(1, 4, ((2, C), (3, D))))]
    p.tick()
    assert p.receive(Inquiry(2, 2)).messages == []
    p.tick()                                                 # inquiry_ticks later: a lost
    assert p.receive(Inquiry(2, 2)).messages == [(2, Transcript(1, 4, ((2, C), (3, D))))]


def test_inquiry_for_what_the_priest_does_not_know_gets_no_answer() -> None:
    p = make()
    p.receive(SuccessfulBallot(0, B1, 1, ((0, A),)))
    assert p.receive(Inquiry(2, 1)).messages == []


def test_a_priest_ahead_in_known_triggers_an_inquiry_once_patience_runs_out() -> None:
    p = make(1, 3, Rules(announce_ticks=2, inquiry_ticks=1))
    assert p.patience == 3
    assert p.receive(FailedBallot(2, B1, 5)).messages == []     # the announcement may come
    assert p.tick().messages == [] and p.tick().messages == []
    assert p.tick().messages == [(2, Inquiry(1, 0))]


def test_a_priest_that_learns_in_time_what_it_saw_known_never_inquires() -> None:
    p = make(1, 3, Rules(announce_ticks=2, inquiry_ticks=1))
    p.receive(FailedBallot(0, B1, 2))                 # 0 knows 2 decrees we do not, yet
    p.tick()
    p.receive(SuccessfulBallot(0, B1, 3, ((0, A), (1, B))))   # ... and now knows a third
    assert p.tick().messages == []                     # the first two came in time; now
    for _ in range(p.patience - 1):                    # it waits for the third
        assert p.tick().messages == []
    assert p.tick().messages == [(0, Inquiry(1, 2))]   # which never came: ask for it


def test_inquiries_are_rate_limited_by_inquiry_ticks() -> None:
    p = make(1, 3, Rules(announce_ticks=1, inquiry_ticks=3))
    p.receive(FailedBallot(2, B1, 5))
    for _ in range(p.patience - 1):
        assert p.tick().messages == []
    assert p.tick().messages == [(2, Inquiry(1, 0))]
    assert p.receive(FailedBallot(2, B1, 5)).messages == []
    p.tick()
    p.tick()
    assert p.tick().messages == [(2, Inquiry(1, 0))]


def test_the_latest_priest_that_knows_the_awaited_decrees_is_asked() -> None:
    p = make(1, 3, Rules(announce_ticks=1, inquiry_ticks=1))
    p.receive(FailedBallot(2, B1, 5))
    p.receive(FailedBallot(0, B1, 7))                  # 0 knows them too, and more
    p.tick()
    assert p.tick().messages == [(0, Inquiry(1, 0))]


def test_transcript_is_learned_and_a_partial_one_asks_again_at_once() -> None:
    p = make(1, 3, Rules(inquiry_ticks=100))
    p.receive(FailedBallot(2, B1, 4))
    eff = p.receive(Transcript(2, 4, ((0, A), (1, B))))
    assert eff.records == [Passed(((0, A), (1, B)))]
    assert [e.n for e in eff.passed] == [0, 1]
    assert eff.messages == [(2, Inquiry(1, 2))]
    eff = p.receive(Transcript(2, 4, ((2, C), (3, D))))
    assert p.law.known == 4 and eff.messages == []


def test_a_hole_in_the_law_is_asked_of_the_president_on_tick() -> None:
    p = make(1, 3)
    p.receive(SuccessfulBallot(0, B1, 0, ((3, D),)))   # president 0 knows no more than 0 passed
    assert p.tick().messages == []                      # the hole is seen: wait for it
    for _ in range(p.patience - 1):
        assert p.tick().messages == []
    assert p.tick().messages == [(0, Inquiry(1, 0))]


def test_its_own_messages_never_make_a_priest_inquire() -> None:
    p = make(0, 1)
    p.start_ballot()
    assert all(not isinstance(m, Inquiry) for _, m in p.petition([A]).messages)


# ---------------------------------------------------------------- odds and ends


def test_unknown_message_type_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="no handler for Seat"):
        make().receive(Seat("x", 0, 1))  # type: ignore[arg-type]


def test_effects_exist_only_inside_a_step() -> None:
    with pytest.raises(AssertionError):
        _ = make().effects


def test_status_snapshot() -> None:
    p = make(1, 3)
    p.receive(NextBallot(0, B1, 0, 0))
    p.receive(SuccessfulBallot(0, B1, 0, ((0, A), (2, C))))
    assert p.status() == {"seat": 1, "next_bal": "1.0", "president": 0, "hint": 0,
                          "known": 1, "highest": 2}
