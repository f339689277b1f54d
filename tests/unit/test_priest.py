"""The priest (acceptor and learner), tied to the sentences of the Synod it implements.

Priests are named by identities (``chamber.IDS``); each test's priest has entered its
parliament's founding, decree 0, so the decrees of a test start at 1 (``known`` is 1).
"""

from __future__ import annotations

import pytest
from chamber import IDS, P0, P1, P2, P3, P4, SENATE, founding, ledger, make, unit_rules

from paxos_redis.protocol import (
    ZERO,
    Applied,
    Ballot,
    BeginBallot,
    Decree,
    FailedBallot,
    Identity,
    Inquiry,
    LastVote,
    LawConflict,
    NextBallot,
    Passed,
    Petition,
    Priest,
    Promise,
    ProtocolError,
    SuccessfulBallot,
    Transcript,
    Tried,
    Voted,
    VoteNo,
    Votes,
)

A, B, C, D = (Decree(p, p.encode()) for p in "abcd")
B1, B2, B3 = Ballot(1, P0), Ballot(2, P2), Ballot(3, P0)


# ---------------------------------------------------------------- identity and founding


def test_an_identity_out_of_range_is_refused() -> None:
    with pytest.raises(ProtocolError, match="identity 0 is out of range"):
        Priest(Identity(SENATE, 0))
    with pytest.raises(ProtocolError, match="out of range"):
        Priest(Identity(SENATE, 2**63))


def test_a_new_priest_is_unfounded_until_it_enters_decree_0_and_then_votes_if_named() -> None:
    p = Priest.restore([Identity(SENATE, P1)])
    assert p.role == "unfounded" and not p.law.members.founded
    assert not p.start_ballot()                          # no membership to count votes in
    eff = p.found(founding())
    assert eff.records == [Passed(((0, founding()),))]
    assert [e.n for e in eff.applied] == [0]
    assert p.role == "voter" and p.law.known == 1
    assert p.law.members_at(1) == frozenset(IDS[:3])
    assert make(3, 3).role == "listener"                 # not named by the founding


def test_the_founding_is_entered_once_and_a_different_one_is_a_conflict() -> None:
    p = make()
    assert not p.found(founding())                       # the same decree 0: nothing new
    with pytest.raises(LawConflict):
        p.found(founding(IDS[:5]))
    with pytest.raises(ProtocolError, match="not a founding decree"):
        Priest.restore([Identity(SENATE, P1)]).found(A)


def test_a_new_priest_has_promised_nothing() -> None:
    p = make()
    assert p.next_bal == ZERO and p.last_tried == ZERO and p.votes == {} and p.law.known == 1
    assert not p.is_president and p.stamp == 0


# ---------------------------------------------------------------- step 2: next ballot


def test_next_ballot_above_the_promise_is_promised_and_answered_in_one_step() -> None:
    """'writes the promise in its ledger ... and only then answers last vote'."""
    p = make()
    eff = p.receive(NextBallot(P0, B1, 1, 1))
    assert eff.records == [Promise(B1)]
    assert eff.messages == [(P0, LastVote(P1, B1, 1, 1, (), ()))]
    assert p.next_bal == B1


def test_next_ballot_below_the_promise_gets_vote_no_with_the_promise() -> None:
    p = make()
    p.receive(NextBallot(P2, B2, 1, 1))
    eff = p.receive(NextBallot(P0, B1, 1, 1))
    assert eff.records == []
    assert eff.messages == [(P0, VoteNo(P1, B1, 1, B2))]
    assert p.next_bal == B2


def test_repeated_next_ballot_is_answered_without_a_second_promise() -> None:
    p = make()
    p.receive(NextBallot(P0, B1, 1, 1))
    eff = p.receive(NextBallot(P0, B1, 1, 1))
    assert eff.records == []
    assert [type(m) for _, m in eff.messages] == [LastVote]


def test_last_vote_reports_the_highest_ballot_vote_per_decree_from_from_n() -> None:
    """'v is its vote with the highest ballot number below b': per decree number >= from_n."""
    p = make()
    p.receive(BeginBallot(P0, B1, 1, ((1, A), (2, B), (3, C))))
    p.receive(BeginBallot(P2, B2, 1, ((2, D),)))
    eff = p.receive(NextBallot(P0, B3, 1, 2))
    (_, lv), = eff.messages
    assert isinstance(lv, LastVote)
    assert lv.from_n == 2
    assert lv.votes == ((2, B2, D), (3, B1, C))


def test_last_vote_carries_decrees_known_passed_instead_of_their_votes() -> None:
    p = make(rules=unit_rules(batch=2))
    p.receive(BeginBallot(P0, B1, 1, ((1, A), (2, B), (3, C), (4, D))))
    p.receive(SuccessfulBallot(P0, B1, 4, ((1, A), (2, B), (3, C))))
    eff = p.receive(NextBallot(P2, B2, 1, 1))
    (_, lv), = eff.messages
    assert lv.known == 4
    assert lv.votes == ((4, B1, D),)                 # below known: passed, not a vote
    assert lv.passed == ((1, A), (2, B))             # a catch-up batch of at most Rules.batch


def test_last_vote_sends_no_passed_decrees_when_the_president_knows_as_much() -> None:
    p = make()
    p.receive(SuccessfulBallot(P0, B1, 2, ((1, A),)))
    (_, lv), = p.receive(NextBallot(P2, B2, 2, 2)).messages
    assert lv.passed == ()


# ---------------------------------------------------------------- step 4: begin ballot


def test_begin_ballot_is_voted_with_a_votes_record_and_a_voted_reply() -> None:
    p = make()
    p.receive(NextBallot(P0, B1, 1, 1))
    eff = p.receive(BeginBallot(P0, B1, 1, ((1, A), (2, B))))
    assert eff.records == [Votes(B1, ((1, A), (2, B)))]
    assert eff.messages == [(P0, Voted(P1, B1, 1, (1, 2)))]
    assert p.votes == {1: (B1, A), 2: (B1, B)}


def test_a_resent_begin_ballot_is_answered_again_without_writing_its_votes_again() -> None:
    p = make()
    p.receive(BeginBallot(P0, B1, 1, ((1, A),)))
    eff = p.receive(BeginBallot(P0, B1, 1, ((1, A), (2, B)), (1, "c-1", 3)))   # resent, and more
    assert eff.records == [Votes(B1, ((2, B),))]                  # only the new vote
    assert eff.messages == [(P0, Voted(P1, B1, 1, (1, 2)))]
    assert [(r.n, r.petition, r.priest, r.of) for r in eff.receipts] == [(1, A.petition, P1, 3)]
    eff = p.receive(BeginBallot(P0, B1, 1, ((1, A), (2, B))))
    assert eff.records == [] and eff.messages == [(P0, Voted(P1, B1, 1, (1, 2)))]
    eff = p.receive(BeginBallot(P2, B2, 1, ((1, A),)))            # a higher ballot: a new vote
    assert eff.records == [Votes(B2, ((1, A),))] and p.next_bal == B2


def test_begin_ballot_above_the_promise_raises_the_promise_through_the_votes_record() -> None:
    p = make()
    eff = p.receive(BeginBallot(P2, B2, 1, ((1, A),)))
    assert eff.records == [Votes(B2, ((1, A),))]
    assert p.next_bal == B2
    assert p.receive(NextBallot(P0, B1, 1, 1)).messages == [(P0, VoteNo(P1, B1, 1, B2))]


def test_begin_ballot_below_the_promise_gets_vote_no_carrying_the_promise() -> None:
    p = make()
    p.receive(NextBallot(P2, B2, 1, 1))
    eff = p.receive(BeginBallot(P0, B1, 1, ((1, A),)))
    assert eff.records == []
    assert eff.messages == [(P0, VoteNo(P1, B1, 1, B2))]
    assert p.votes == {}


def test_empty_begin_ballot_does_nothing() -> None:
    p = make()
    assert not p.receive(BeginBallot(P0, B1, 1, ()))
    assert p.next_bal == ZERO


def test_a_listener_votes_too_though_no_president_counts_it() -> None:
    """Every priest is an acceptor whatever the membership says: a vote nobody counts is
    harmless, and a priest admitted later has kept its promises."""
    p = make(3, 3)
    eff = p.receive(BeginBallot(P0, B1, 1, ((1, A),)))
    assert eff.records == [Votes(B1, ((1, A),))] and eff.messages == [(P0, Voted(P3, B1, 1, (1,)))]


# ---------------------------------------------------------------- step 5: successful ballot


def test_successful_ballot_writes_passed_and_enacts_in_order() -> None:
    p = make()
    eff = p.receive(SuccessfulBallot(P0, B1, 3, ((2, B), (1, A))))
    assert eff.records == [Passed(((2, B), (1, A)))]
    assert eff.applied == [Applied(1, A, 1), Applied(2, B, 2)]
    assert p.law.known == 3


def test_successful_ballot_after_a_gap_is_written_but_enacted_only_when_filled() -> None:
    p = make()
    eff = p.receive(SuccessfulBallot(P0, B1, 1, ((3, C),)))
    assert eff.records == [Passed(((3, C),))] and eff.applied == []
    eff = p.receive(SuccessfulBallot(P0, B1, 1, ((1, A), (2, B))))
    assert [e.n for e in eff.applied] == [1, 2, 3]


def test_duplicate_successful_ballot_writes_nothing_new() -> None:
    p = make()
    p.receive(SuccessfulBallot(P0, B1, 2, ((1, A),)))
    eff = p.receive(SuccessfulBallot(P0, B1, 2, ((1, A),)))
    assert eff.records == [] and eff.applied == []


def test_a_different_decree_at_a_known_number_stops_the_priest() -> None:
    p = make()
    p.receive(SuccessfulBallot(P0, B1, 2, ((1, A),)))
    with pytest.raises(LawConflict, match="decree 1"):
        p.receive(SuccessfulBallot(P2, B2, 2, ((1, B),)))
    with pytest.raises(LawConflict, match="decree 0"):
        p.receive(Transcript(P2, 2, ((0, A),)))


def test_learning_forgets_votes_below_known() -> None:
    p = make()
    p.receive(BeginBallot(P0, B1, 1, ((1, A), (2, B), (3, C))))
    p.receive(SuccessfulBallot(P0, B1, 3, ((1, A), (2, B))))
    assert set(p.votes) == {3}


def test_a_retried_petition_is_enacted_once() -> None:
    p = make()
    eff = p.receive(SuccessfulBallot(P0, B1, 4, ((1, A), (2, B), (3, Decree("a", b"a")))))
    assert [(e.n, e.first, e.is_duplicate) for e in eff.applied] == [
        (1, 1, False), (2, 2, False), (3, 1, True)]


# ---------------------------------------------------------------- restore


def test_restore_from_records_reproduces_the_priest() -> None:
    p = make(1, 3)
    records: list = ledger(P1)
    for step in (
        p.receive(NextBallot(P0, B1, 1, 1)),
        p.receive(BeginBallot(P0, B1, 1, ((1, A), (2, B), (3, C), (6, D)))),
        p.receive(SuccessfulBallot(P0, B1, 3, ((1, A), (2, B)))),
        p.receive(SuccessfulBallot(P0, B1, 3, ((5, D),))),
        p.start_ballot(),
        p.receive(NextBallot(P2, Ballot(9, P2), 3, 3)),
    ):
        records.extend(step.records)
    q = Priest.restore(records)
    assert q.id == P1 and q.parliament == SENATE and q.role == "voter"
    assert q.law.members.configs == p.law.members.configs == [(0, frozenset(IDS[:3]))]
    assert q.next_bal == p.next_bal == Ballot(9, P2)
    assert q.last_tried == p.last_tried and q.last_tried > B1
    assert q.votes == p.votes == {3: (B1, C), 6: (B1, D)}
    assert q.law.decrees == p.law.decrees and q.law.known == p.law.known == 3
    assert q.law.first_of == p.law.first_of
    assert q.stamp == p.stamp == 5                       # 3 promises, a vote, a ballot tried
    assert not q.is_president


def test_restored_priest_keeps_its_promise() -> None:
    q = Priest.restore([*ledger(P0), Promise(B2)])
    b = Ballot(1, P1)
    assert q.receive(NextBallot(P1, b, 1, 1)).messages == [(P1, VoteNo(P0, b, 1, B2))]
    assert q.receive(BeginBallot(P1, b, 1, ((1, A),))).records == []


def test_restored_priest_starts_above_every_ballot_in_its_ledger() -> None:
    q = Priest.restore([*ledger(P1), Tried(Ballot(4, P1)), Promise(Ballot(6, P2))])
    eff = q.start_ballot()
    assert eff.records[0] == Tried(Ballot(7, P1))


def test_restore_needs_one_identity_record_first() -> None:
    with pytest.raises(ProtocolError, match="must begin with its Identity"):
        Priest.restore([Promise(B1)])
    with pytest.raises(ProtocolError, match="must begin with its Identity"):
        Priest.restore([])
    with pytest.raises(ProtocolError, match="one Identity record"):
        Priest.restore([Identity("s", P0), Identity("s", P0)])


# ---------------------------------------------------------------- step 1: start a ballot


def test_start_ballot_writes_tried_above_everything_seen_and_asks_every_member() -> None:
    p = make(1, 5)
    p.receive(NextBallot(P2, Ballot(5, P2), 1, 1))      # promised 5.P2
    p.receive(FailedBallot(P0, Ballot(9, P0), 1))        # seen 9.P0
    eff = p.start_ballot()
    b = Ballot(9, P1)
    assert eff.records[0] == Tried(b)
    assert Promise(b) in eff.records                     # its own promise, via itself
    assert p.last_tried == b
    sent = [(priest, m) for priest, m in eff.messages if isinstance(m, NextBallot)]
    assert sorted(priest for priest, _ in sent) == [P0, P2, P3, P4]
    assert {m for _, m in sent} == {NextBallot(P1, b, 1, 1)}


def test_start_ballot_covers_every_decree_number_not_known_passed() -> None:
    p = make(0, 3)
    p.receive(SuccessfulBallot(P1, Ballot(1, P1), 3, ((1, A), (2, B))))
    (_, nb), *_ = p.start_ballot().messages
    assert isinstance(nb, NextBallot) and nb.from_n == 3 and nb.known == 3


def test_b1_successive_ballots_of_one_priest_increase_and_differ_across_priests() -> None:
    p0, p1 = make(0, 3), make(1, 3)
    tried = []
    for _ in range(3):
        for p in (p0, p1):
            eff = p.start_ballot()
            tried.append(eff.records[0].ballot)
            other = p1 if p is p0 else p0
            for priest, m in eff.messages:               # the other priest sees the ballot
                if priest == other.id:
                    other.receive(m)
    assert len(set(tried)) == len(tried)
    assert tried == sorted(tried)
    assert {b.priest for b in tried} == {P0, P1}


def test_start_ballot_alone_in_a_parliament_of_one_passes_petitions() -> None:
    p = make(0, 1)
    p.start_ballot()
    assert p.is_president
    eff = p.petition([A, B])
    assert [e.decree for e in eff.applied] == [A, B]
    assert Votes(p.last_tried, ((1, A), (2, B))) in eff.records
    assert eff.records.index(Votes(p.last_tried, ((1, A), (2, B)))) < eff.records.index(
        Passed(((1, A), (2, B))))


# ---------------------------------------------------------------- presidents meet


def test_a_higher_ballot_from_another_priest_makes_the_president_resign() -> None:
    p = make(0, 3)
    p.start_ballot()
    mine = p.last_tried
    p.petition([A])                                      # queued while preparing
    higher = mine.successor(P1)
    eff = p.receive(NextBallot(P1, higher, 1, 1))
    assert p.president is None and not p.is_president
    assert (P1, Petition(P0, 1, (A,))) in eff.messages   # queued petitions handed over
    assert (P1, LastVote(P0, higher, 1, 1, (), ())) in eff.messages
    assert p.hint == P1


def test_a_lower_ballot_from_another_priest_does_not_depose() -> None:
    p = make(2, 3)
    p.start_ballot()
    lower = Ballot(0, P0)
    assert lower < p.last_tried == Ballot(0, P2)
    eff = p.receive(NextBallot(P0, lower, 1, 1))
    assert p.president is not None
    assert eff.messages == [(P0, VoteNo(P2, lower, 1, p.last_tried))]


def test_failed_ballot_makes_the_priest_forget_that_president() -> None:
    p = make()
    p.receive(NextBallot(P0, B1, 1, 1))
    assert p.hint == P0
    p.receive(FailedBallot(P0, B1, 1))
    assert p.hint is None


def test_a_president_not_heard_from_is_forgotten_after_president_ticks() -> None:
    p = make(rules=unit_rules(president_ticks=3))
    p.receive(NextBallot(P0, B1, 1, 1))
    for _ in range(3):
        p.tick()
    assert p.hint == P0
    p.tick()
    assert p.hint is None


# ---------------------------------------------------------------- petitions


def test_petition_at_a_priest_goes_to_the_president_it_follows() -> None:
    p = make(1, 3)
    p.receive(NextBallot(P0, B1, 1, 1))
    eff = p.petition([A, B])
    assert eff.messages == [(P0, Petition(P1, 1, (A, B)))]


def test_forwarded_petition_is_not_forwarded_again() -> None:
    p = make(1, 3)
    p.receive(NextBallot(P0, B1, 1, 1))
    assert p.receive(Petition(P2, 1, (A,))).messages == []


def test_petition_without_a_president_is_not_sent_anywhere() -> None:
    assert make().petition([A]).messages == []


# ---------------------------------------------------------------- catching up


def test_inquiry_is_answered_by_a_transcript_from_the_asked_number() -> None:
    p = make(1, 3, unit_rules(batch=2))
    p.receive(SuccessfulBallot(P0, B1, 4, ((1, A), (2, B), (3, C))))
    eff = p.receive(Inquiry(P2, 2))
    assert eff.messages == [(P2, Transcript(P1, 4, ((2, B), (3, C))))]
    eff = p.receive(Inquiry(P2, 1))
    assert eff.messages == [(P2, Transcript(P1, 4, ((1, A), (2, B))))]   # at most Rules.batch


def test_a_newcomer_asking_from_0_is_sent_the_founding_first() -> None:
    p = make(1, 3)
    p.receive(SuccessfulBallot(P0, B1, 2, ((1, A),)))
    newcomer = Priest.restore([Identity(SENATE, IDS[5])])
    [(_, transcript)] = p.receive(Inquiry(IDS[5], 0)).messages
    assert transcript == Transcript(P1, 2, ((0, founding()), (1, A)))
    newcomer.receive(transcript)
    assert newcomer.role == "listener" and newcomer.law.known == 2


def test_repeated_inquiries_piled_up_get_one_transcript_until_inquiry_ticks_pass() -> None:
    """A priest slow to read finds an inquirer's repeats together in its inbox: the
    transcript it sends covers them all, so it sends it once, not once per inquiry."""
    p = make(1, 3, unit_rules(batch=2, inquiry_ticks=2))
    p.receive(SuccessfulBallot(P0, B1, 5, ((1, A), (2, B), (3, C), (4, D))))
    first = (P2, Transcript(P1, 5, ((1, A), (2, B))))
    assert p.receive(Inquiry(P2, 1)).messages == [first]
    assert p.receive(Inquiry(P2, 1)).messages == []           # the same, piled up
    assert p.receive(Inquiry(P2, 2)).messages == []           # within what was just sent
    assert p.receive(Inquiry(P0, 1)).messages == [(P0, Transcript(P1, 5, ((1, A), (2, B))))]
    assert p.receive(Inquiry(P2, 3)).messages == [(P2, Transcript(P1, 5, ((3, C), (4, D))))]
    p.tick()
    assert p.receive(Inquiry(P2, 3)).messages == []
    p.tick()                                                 # inquiry_ticks later: a lost
    assert p.receive(Inquiry(P2, 3)).messages == [(P2, Transcript(P1, 5, ((3, C), (4, D))))]


def test_inquiry_for_what_the_priest_does_not_know_gets_no_answer() -> None:
    p = make()
    p.receive(SuccessfulBallot(P0, B1, 2, ((1, A),)))
    assert p.receive(Inquiry(P2, 2)).messages == []


def test_a_priest_ahead_in_known_triggers_an_inquiry_once_patience_runs_out() -> None:
    p = make(1, 3, unit_rules(announce_ticks=2, inquiry_ticks=1))
    assert p.patience == 3
    assert p.receive(FailedBallot(P2, B2, 6)).messages == []     # the announcement may come
    assert p.tick().messages == [] and p.tick().messages == []
    assert p.tick().messages == [(P2, Inquiry(P1, 1))]


def test_a_listener_told_of_a_priest_ahead_asks_it_for_the_law() -> None:
    """A listener gets no Synod messages: the runtime tells it who knows more (hear_of)."""
    p = make(3, 3, unit_rules(announce_ticks=1, inquiry_ticks=1))
    assert not p.hear_of(P3, 9) and p.ahead is None          # itself: nothing to learn
    assert not p.hear_of(P0, 1)                              # knows no more than we do
    assert p.hear_of(P0, 6).messages == []
    assert p.tick().messages == []
    assert p.tick().messages == [(P0, Inquiry(P3, 1))]


def test_a_priest_that_learns_in_time_what_it_saw_known_never_inquires() -> None:
    p = make(1, 3, unit_rules(announce_ticks=2, inquiry_ticks=1))
    p.receive(FailedBallot(P0, B1, 3))                # P0 knows 2 decrees we do not, yet
    p.tick()
    p.receive(SuccessfulBallot(P0, B1, 4, ((1, A), (2, B))))   # ... and now knows a third
    assert p.tick().messages == []                     # the first two came in time; now
    for _ in range(p.patience - 1):                    # it waits for the third
        assert p.tick().messages == []
    assert p.tick().messages == [(P0, Inquiry(P1, 3))]   # which never came: ask for it


def test_inquiries_are_rate_limited_by_inquiry_ticks() -> None:
    p = make(1, 3, unit_rules(announce_ticks=1, inquiry_ticks=3))
    p.receive(FailedBallot(P2, B2, 6))
    for _ in range(p.patience - 1):
        assert p.tick().messages == []
    assert p.tick().messages == [(P2, Inquiry(P1, 1))]
    assert p.receive(FailedBallot(P2, B2, 6)).messages == []
    p.tick()
    p.tick()
    assert p.tick().messages == [(P2, Inquiry(P1, 1))]


def test_the_latest_priest_that_knows_the_awaited_decrees_is_asked() -> None:
    p = make(1, 3, unit_rules(announce_ticks=1, inquiry_ticks=1))
    p.receive(FailedBallot(P2, B2, 6))
    p.receive(FailedBallot(P0, B1, 8))                 # P0 knows them too, and more
    p.tick()
    assert p.tick().messages == [(P0, Inquiry(P1, 1))]


def test_transcript_is_learned_and_a_partial_one_asks_again_at_once() -> None:
    p = make(1, 3, unit_rules(inquiry_ticks=100))
    p.receive(FailedBallot(P2, B2, 5))
    eff = p.receive(Transcript(P2, 5, ((1, A), (2, B))))
    assert eff.records == [Passed(((1, A), (2, B)))]
    assert [e.n for e in eff.applied] == [1, 2]
    assert eff.messages == [(P2, Inquiry(P1, 3))]
    eff = p.receive(Transcript(P2, 5, ((3, C), (4, D))))
    assert p.law.known == 5 and eff.messages == []


def test_a_hole_in_the_law_is_asked_of_the_president_on_tick() -> None:
    p = make(1, 3)
    p.receive(SuccessfulBallot(P0, B1, 1, ((4, D),)))  # president P0 knows only the founding
    assert p.tick().messages == []                      # the hole is seen: wait for it
    for _ in range(p.patience - 1):
        assert p.tick().messages == []
    assert p.tick().messages == [(P0, Inquiry(P1, 1))]


def test_its_own_messages_never_make_a_priest_inquire() -> None:
    p = make(0, 1)
    p.start_ballot()
    assert all(not isinstance(m, Inquiry) for _, m in p.petition([A]).messages)


# ---------------------------------------------------------------- odds and ends


def test_unknown_message_type_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="no handler for Identity"):
        make().receive(Identity("x", 1))  # type: ignore[arg-type]


def test_effects_exist_only_inside_a_step() -> None:
    with pytest.raises(AssertionError):
        _ = make().effects


def test_status_snapshot() -> None:
    p = make(1, 3)
    p.receive(NextBallot(P0, B1, 1, 1))
    p.receive(SuccessfulBallot(P0, B1, 1, ((1, A), (3, C))))
    expected = {"next_bal": f"1.{P0}", "president": 0, "hint": P0, "known": 2, "highest": 3,
                "role": "voter", "genesis": "g1", "members": ",".join(str(i) for i in IDS[:3]),
                "members_at": 0, "pending_until": 0, "stamp": 1}
    status = p.status()
    assert {key: status.get(key) for key in expected} == expected
