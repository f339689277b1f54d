"""Which of a step's messages may leave before its records are durable."""

from __future__ import annotations

from paxos_redis.protocol import Ballot, Decree, Effects
from paxos_redis.protocol.messages import BeginBallot, NextBallot, SuccessfulBallot, Voted
from paxos_redis.protocol.records import Passed, Promise, Tried, Votes

B = Ballot(3, 0)
A = Decree("a", b"a")
BEGIN = BeginBallot(0, B, 0, ((0, A),))
VOTED = Voted(0, B, 0, (0,))
NEXT = NextBallot(0, B, 0, 0)
SUCCESS = SuccessfulBallot(0, B, 1, ((0, A),))


def test_begin_ballots_leave_before_a_vote_is_durable_the_vote_itself_after() -> None:
    e = Effects(records=[Votes(B, ((0, A),))], messages=[(1, BEGIN), (2, VOTED), (2, BEGIN)])
    assert e.before_records() == ([(1, BEGIN), (2, BEGIN)], [(2, VOTED)])
    assert not e.notes_only


def test_a_next_ballot_waits_for_its_ballot_to_be_recorded_as_tried() -> None:
    e = Effects(records=[Tried(B), Promise(B)], messages=[(1, NEXT), (2, NEXT)])
    assert e.before_records() == ([], [(1, NEXT), (2, NEXT)])


def test_a_step_that_only_notes_decrees_passed_sends_everything_first() -> None:
    e = Effects(records=[Passed(((0, A),))], messages=[(1, SUCCESS), (2, VOTED)])
    assert e.notes_only
    assert e.before_records() == ([(1, SUCCESS), (2, VOTED)], [])
    mixed = Effects(records=[Passed(((0, A),)), Votes(B, ((1, A),))], messages=[(2, VOTED)])
    assert not mixed.notes_only and mixed.before_records() == ([], [(2, VOTED)])
