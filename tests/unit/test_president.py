"""The president, driven by hand over a few priests: B3, olive days, pipelining, batching,
deposition and retry, resends, retried petitions, and votes counted in the membership the
law sets for each decree number.

The priests sit in a :class:`chamber.Chamber` (a hand-cranked messenger that checks after
every step that no two different decrees passed at one number).  Tests name priests by
their index in it; decree 0 is the founding, so citizens' decrees start at 1.
"""

from __future__ import annotations

import pytest
from chamber import IDS, OUTSIDER, P0, P1, P2, P3, P4, Chamber, d, kind, to, unit_rules

from paxos_redis.protocol import (
    OLIVE_DAY,
    Ballot,
    BeginBallot,
    Change,
    Decree,
    FailedBallot,
    LastVote,
    NextBallot,
    Rules,
    SuccessfulBallot,
    Transcript,
    Tried,
    Voted,
    VoteNo,
    Votes,
)
from paxos_redis.protocol.president import ACTIVE, DEPOSED, PREPARING

A, B, C, X, Y, Z = (d(n) for n in ("a", "b", "c", "x", "y", "z"))


# ---------------------------------------------------------------- taking office


def test_a_majority_of_last_votes_makes_a_president() -> None:
    ch = Chamber(3)
    ch.start(0)
    president = ch.priests[0].president
    assert president is not None and president.phase == PREPARING
    ch.deliver(drop=to(2))
    assert president.phase == ACTIVE and ch.priests[0].is_president
    assert set(president.promises) == {P0, P1}


def test_a_minority_of_last_votes_does_not() -> None:
    ch = Chamber(5)
    ch.start(0)
    ch.deliver(drop=to(2, 3, 4))
    assert ch.priests[0].president.phase == PREPARING
    assert not ch.priests[0].is_president


def test_petitions_pass_and_are_enacted_in_order_everywhere() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, A, B)
    ch.petition(0, C)
    ch.deliver()
    for i in range(3):
        assert ch.law(i) == [A, B, C]
        assert [e.decree for e in ch.applied[i]] == [A, B, C]


def test_petitions_sent_to_a_follower_reach_the_president() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(2, A)
    ch.deliver()
    assert ch.law(1) == [A]


# ---------------------------------------------------------------- B3


def test_b3_new_president_reproposes_a_minority_vote_not_its_own_decree() -> None:
    ch = Chamber(5)
    ch.elect(0)
    ch.petition(0, X)                                   # voted by priests 0 and 1 only: 2 of 5
    ch.deliver(drop=to(2, 3, 4, types=(BeginBallot,)))
    assert not any(p.law.is_passed(1) for p in ch.priests)
    assert ch.priests[1].votes[1][1] == X
    ch.down.add(0)                                      # the old president dies
    ch.start(2)
    ch.petition(2, Y)                                   # its own decree, queued while preparing
    ch.deliver(drop=to(4))
    assert P1 in ch.priests[2].president.promises
    first = ch.begins(src=2)[0]
    assert first.ballot == ch.priests[2].last_tried
    assert first.entries[0] == (1, X)
    for i in (1, 2, 3):
        assert ch.law(i) == [X, Y]


def test_b3_the_highest_ballot_vote_reported_wins() -> None:
    ch = Chamber(5)
    ch.elect(0)
    ch.petition(0, X)                                   # X voted at b0 by priests 0, 1
    ch.deliver(drop=to(2, 3, 4, types=(BeginBallot,)))
    ch.down.add(0)
    ch.start(2)                                         # quorum {2, 3, 4}: knows nothing of X
    ch.deliver(drop=to(1))
    ch.petition(2, Y)                                   # Y voted at b2 by priests 2, 3 only
    ch.deliver(drop=lambda s, t, m: t in (1, 4) or isinstance(m, SuccessfulBallot))
    b2 = ch.priests[2].last_tried
    assert ch.priests[3].votes[1] == (b2, Y) and ch.priests[1].votes[1][1] == X
    assert not any(p.law.is_passed(1) for p in ch.priests)
    ch.down.add(2)
    ch.start(4)                                         # quorum {1, 3, 4}: reports X@b0, Y@b2
    ch.deliver()
    assert set(ch.priests[4].president.promises) == {P1, P3, P4}
    assert ch.begins(src=4)[0].entries[0] == (1, Y)
    for i in (1, 3, 4):
        assert ch.law(i)[0] == Y


def test_b3_a_majority_vote_never_announced_is_kept() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, X)                                   # 0 and 1 vote: passed, nobody told
    ch.deliver(drop=lambda s, t, m: isinstance(m, Voted) or t == 2)
    ch.down.add(0)
    ch.start(2)
    ch.petition(2, Y)
    ch.deliver()
    assert ch.law(1) == ch.law(2) == [X, Y]


# ---------------------------------------------------------------- olive days


def test_olive_day_fills_the_gaps_below_a_reported_vote() -> None:
    ch = Chamber(5)
    ch.elect(0)
    ch.petition(0, A)
    ch.petition(0, B)
    ch.lose_all()                                       # nobody else ever hears of A and B
    ch.petition(0, C)                                   # C at 3, voted by 0 and 1
    ch.deliver(drop=to(2, 3, 4, types=(BeginBallot,)))
    ch.down.add(0)
    ch.start(2)
    ch.deliver()
    assert ch.begins(src=2)[0].entries == ((1, OLIVE_DAY), (2, OLIVE_DAY), (3, C))
    for i in (1, 2, 3, 4):
        assert ch.law(i) == [OLIVE_DAY, OLIVE_DAY, C]
        assert [e.decree.is_olive_day for e in ch.applied[i]] == [True, True, False]


def test_no_olive_day_when_nothing_was_voted() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, A)
    ch.lose_all()
    ch.down.add(0)
    ch.start(1)
    ch.petition(1, B)
    ch.deliver()
    assert ch.law(1) == ch.law(2) == [B]


def test_new_president_continues_after_what_it_knows_passed() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, A, B)
    ch.deliver()
    ch.down.add(0)
    ch.start(1)
    nb = next(m for s, t, m in ch.sent if s == 1 and isinstance(m, NextBallot))
    assert nb.from_n == 3
    ch.petition(1, C)
    ch.deliver()
    assert ch.law(2) == [A, B, C]


# ---------------------------------------------------------------- pipelining and batching


def test_pipelining_window_is_respected() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, window=2))
    ch.elect(0)
    president = ch.priests[0].president
    highest_in_flight = []

    def in_flight() -> None:
        numbers = {n for m in ch.begins(src=0) for n, _ in m.entries}
        passed = {n for n in numbers if ch.priests[0].law.is_passed(n)}
        highest_in_flight.append(len(numbers - passed))
        assert len(president.proposals) <= 2

    ch.after_step = in_flight
    decrees = [d(f"p{i}") for i in range(7)]
    ch.petition(0, *decrees)
    assert sorted(president.proposals) == [1, 2]
    assert {n for m in ch.begins(src=0) for n, _ in m.entries} == {1, 2}
    ch.deliver()
    assert max(highest_in_flight) == 2
    assert ch.law(1) == decrees


def test_window_refills_as_decrees_pass() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, window=3))
    ch.elect(0)
    ch.petition(0, *(d(f"p{i}") for i in range(5)))
    ch.deliver(drop=kind(BeginBallot))
    assert len(ch.priests[0].president.proposals) == 3
    assert len(ch.priests[0].president.queue) == 2
    ch.tick(0, times=2)                                 # resend, then everything flows
    ch.deliver()
    assert len(ch.law(2)) == 5


def test_batching_limits_entries_per_message() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, batch=3))
    ch.elect(0)
    decrees = [d(f"p{i}") for i in range(7)]
    ch.petition(0, *decrees)
    assert [len(m.entries) for m in ch.begins(src=0, dst=1)] == [3, 3, 1]
    assert [n for m in ch.begins(src=0, dst=1) for n, _ in m.entries] == list(range(1, 8))
    ch.deliver()
    assert ch.law(2) == decrees
    for _, _, m in ch.sent:
        if isinstance(m, (BeginBallot, SuccessfulBallot, Transcript)):
            assert len(m.entries) <= 3
        if isinstance(m, Voted):
            assert len(m.numbers) <= 3
        if isinstance(m, LastVote):
            assert len(m.passed) <= 3


def big(name: str, size: int) -> Decree:
    return Decree(name, name.encode().ljust(size, b"."))


def test_batching_limits_the_bytes_per_message_too() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, batch_bytes=250))
    ch.elect(0)
    decrees = [big(f"p{i}", 100) for i in range(5)] + [big("huge", 1000), big("after", 10)]
    ch.petition(0, *decrees)
    sizes = [[len(dec.body) for _, dec in m.entries] for m in ch.begins(src=0, dst=1)]
    assert sizes == [[100, 100], [100, 100], [100], [1000], [10]]   # a large one goes alone
    ch.deliver()
    assert ch.law(2) == decrees
    for _, _, m in ch.sent:
        if isinstance(m, (BeginBallot, SuccessfulBallot, Transcript)) and len(m.entries) > 1:
            assert sum(len(dec.body) for _, dec in m.entries) <= 250
        if isinstance(m, LastVote) and len(m.passed) > 1:
            assert sum(len(dec.body) for _, dec in m.passed) <= 250


@pytest.mark.parametrize("name", ["window", "window_bytes", "batch", "batch_bytes"])
def test_rules_refuse_a_window_or_batch_below_one(name: str) -> None:
    with pytest.raises(ValueError, match=f"rule {name} must be a positive int, got 0"):
        Rules(**{name: 0})


def test_chunks_keep_order_and_both_limits_and_never_come_out_empty() -> None:
    rules = Rules(batch=3, batch_bytes=10)
    sizes = [1, 2, 3, 4, 5, 20, 1, 1, 1, 1, 9, 1]
    chunks = [list(c) for c in rules.chunks(sizes, lambda size: size)]
    assert [x for c in chunks for x in c] == sizes
    assert chunks == [[1, 2, 3], [4, 5], [20], [1, 1, 1], [1, 9], [1]]
    assert list(rules.chunks([], lambda size: size)) == []


def test_the_window_counts_bytes_in_flight_and_the_backlog_stops_reading() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, window=100, window_bytes=300))
    ch.elect(0)
    president = ch.priests[0].president
    ch.petition(0, big("huge", 1000))               # alone over the limit: still proposed
    assert list(president.proposals) == [1] and president.flight_bytes == 1000
    ch.petition(0, *(big(f"p{i}", 100) for i in range(6)))
    assert list(president.proposals) == [1] and president.queue_bytes == 600
    assert president.backlog                        # the worker reads no more petitions
    ch.deliver()
    assert len(ch.law(1)) == 7
    assert president.flight_bytes == president.queue_bytes == 0 and not president.backlog
    in_flight = max(len(m.entries) for m in ch.begins(src=0, dst=1))
    assert in_flight == 3                           # 300 bytes of 100-byte decrees


def test_many_decrees_in_one_message_by_default() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, *(d(f"p{i}") for i in range(50)))
    assert [len(m.entries) for m in ch.begins(src=0, dst=1)] == [50]


# ---------------------------------------------------------------- deposition and retry


def depose(i: int, rules: Rules) -> Chamber:
    """A president whose ballot is refused by a priest that promised a rival's higher one.

    The rival (the third priest) tried ballot ``5.rival``; only ``other`` heard of it, so
    the president itself has never seen that ballot.
    """
    ch = Chamber(3, rules)
    other, rival = (i + 1) % 3, (i + 2) % 3
    ch.priests[other].receive(NextBallot(IDS[rival], rival_ballot(i), 1, 1))
    ch.start(i)
    ch.deliver(drop=lambda s, t, m: t not in (i, other))
    return ch


def rival_ballot(i: int) -> Ballot:
    return Ballot(5, IDS[(i + 2) % 3])


def test_vote_no_with_a_higher_promise_deposes_and_sends_failed_ballot() -> None:
    ch = depose(0, unit_rules(announce=1, thrifty=False))
    president, ballot = ch.priests[0].president, ch.priests[0].last_tried
    assert president is not None and president.phase == DEPOSED
    assert not ch.priests[0].is_president
    failed = [(t, m) for s, t, m in ch.sent if isinstance(m, FailedBallot)]
    assert sorted(t for t, _ in failed) == [1, 2]
    assert {m for _, m in failed} == {FailedBallot(P0, ballot, 1)}


def test_vote_no_with_a_lower_promise_is_ignored() -> None:
    ch = Chamber(3)
    ch.elect(0)
    president = ch.priests[0].president
    ch.priests[0].receive(VoteNo(P1, president.ballot, 1, Ballot(0, P0)))
    assert president.phase == ACTIVE


@pytest.mark.parametrize("i", [0, 1, 2])
def test_deposed_president_retries_after_retry_ticks_times_its_rank_plus_one(i: int) -> None:
    """The rank is the priest's place among the members, by identity: the lowest retries
    first, the others later, so they do not keep deposing each other."""
    ch = depose(i, unit_rules(announce=1, thrifty=False, retry_ticks=3, president_ticks=100))
    old = ch.priests[i].last_tried
    wait = 3 * (i + 1)
    for _ in range(wait - 1):
        ch.tick(i)
    assert not [r for r in ch.ledgers[i] if isinstance(r, Tried) and r.ballot > old]
    ch.tick(i)
    retried = [r.ballot for r in ch.ledgers[i] if isinstance(r, Tried) and r.ballot > old]
    assert len(retried) == 1
    new = retried[0]
    assert new.priest == IDS[i] and new > old
    assert ch.priests[i].president.ballot == new
    assert sorted(t for s, t, m in ch.sent if isinstance(m, NextBallot) and m.ballot == new) == \
        sorted({0, 1, 2} - {i})


def test_deposed_president_retries_above_the_promise_it_was_refused_with() -> None:
    ch = depose(0, unit_rules(announce=1, thrifty=False, retry_ticks=1))
    ch.tick(0)
    assert ch.priests[0].last_tried > rival_ballot(0)


def test_deposed_president_that_hears_a_new_president_does_not_retry() -> None:
    ch = depose(0, unit_rules(announce=1, thrifty=False, retry_ticks=3, president_ticks=100))
    old = ch.priests[0].last_tried
    ch.start(1)                                         # priest 1 starts above what it promised
    ch.deliver()
    assert ch.priests[1].is_president
    assert ch.priests[0].president is None and ch.priests[0].hint == P1
    ch.tick(0, times=20)
    assert ch.priests[0].last_tried == old


def test_petitions_queued_at_a_deposed_president_go_into_its_retry() -> None:
    ch = depose(0, unit_rules(announce=1, thrifty=False, retry_ticks=1))
    ch.petition(0, A)
    while not ch.priests[0].is_president:
        ch.tick(0)
        ch.deliver()
    ch.deliver()
    assert ch.law(1) == [A]


# ---------------------------------------------------------------- resend


def test_unanswered_next_ballot_is_resent_after_resend_ticks_to_the_silent_only() -> None:
    ch = Chamber(5, unit_rules(announce=1, thrifty=False, resend_ticks=2))
    ch.start(0)
    ch.deliver(drop=to(2, 3, 4))
    before = len(ch.sent)
    ch.tick(0)
    assert ch.sent[before:] == []
    ch.tick(0)
    resent = ch.sent[before:]
    assert sorted(t for _, t, m in resent if isinstance(m, NextBallot)) == [2, 3, 4]
    ch.deliver()
    assert ch.priests[0].is_president


def test_unanswered_begin_ballot_is_resent_to_priests_that_did_not_vote() -> None:
    ch = Chamber(5, unit_rules(announce=1, thrifty=False, resend_ticks=2))
    ch.elect(0)
    ch.petition(0, A)
    ch.deliver(drop=to(2, 3, 4))
    assert not ch.priests[0].law.is_passed(1)
    before = len(ch.sent)
    ch.tick(0)
    assert not [m for _, _, m in ch.sent[before:] if isinstance(m, BeginBallot)]
    ch.tick(0)
    resent = [(t, m) for _, t, m in ch.sent[before:] if isinstance(m, BeginBallot)]
    assert sorted(t for t, _ in resent) == [2, 3, 4]
    assert all(m.entries == ((1, A),) for _, m in resent)
    ch.deliver()
    assert ch.law(4) == [A]


def test_idle_president_sends_heartbeats() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, resend_ticks=1, president_ticks=4))
    ch.elect(0)
    before = len(ch.sent)
    ch.tick(0, times=2)
    beats = [(t, m) for _, t, m in ch.sent[before:] if isinstance(m, SuccessfulBallot)]
    assert sorted(t for t, _ in beats) == [1, 2] and all(m.entries == () for _, m in beats)


def test_lost_begin_ballot_is_resent_while_other_decrees_keep_passing() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, resend_ticks=2, window=1000))
    ch.elect(0)
    ch.petition(0, A)
    ch.lose_all()
    for i in range(8):
        ch.tick()
        ch.petition(0, d(f"busy{i}"))
        ch.deliver()
    assert ch.priests[1].law.highest() == 9             # the busy decrees all passed ...
    assert len([m for m in ch.begins(src=0, dst=1) if (1, A) in m.entries]) > 1
    assert ch.law(1)[:1] == [A]                         # ... and the hole at 1 was filled


def test_votes_are_counted_once_per_priest() -> None:
    ch = Chamber(5)
    ch.elect(0)
    ch.petition(0, A)
    ch.lose_all()
    ballot = ch.priests[0].last_tried
    for _ in range(3):                                  # a duplicated Voted from priest 1
        ch.absorb(0, ch.priests[0].receive(Voted(P1, ballot, 1, (1,))))
    assert not ch.priests[0].law.is_passed(1)
    ch.absorb(0, ch.priests[0].receive(Voted(P2, ballot, 1, (1,))))
    assert ch.priests[0].law.get(1) == A


def test_votes_for_another_ballot_do_not_count() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, A)
    ch.lose_all()
    ch.absorb(0, ch.priests[0].receive(Voted(P1, Ballot(0, P1), 1, (1,))))
    assert not ch.priests[0].law.is_passed(1)


def test_a_vote_from_a_priest_that_is_not_a_member_does_not_count() -> None:
    ch = Chamber(3, listeners=1)
    ch.elect(0)
    ch.petition(0, A)
    assert not ch.begins(dst=3)                         # a listener is not asked to vote
    ch.lose_all()
    ballot = ch.priests[0].last_tried
    for stranger in (OUTSIDER, P3):                     # unknown, and a listener
        ch.absorb(0, ch.priests[0].receive(Voted(stranger, ballot, 1, (1,))))
    assert not ch.priests[0].law.is_passed(1)
    ch.absorb(0, ch.priests[0].receive(Voted(P2, ballot, 1, (1,))))
    assert ch.priests[0].law.get(1) == A


# ---------------------------------------------------------------- retried petitions


def test_a_retried_petition_in_flight_is_not_proposed_twice() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, A)
    ch.petition(0, A)
    ch.petition(0, Decree("a", b"retry"))                # same id, resent body
    ch.petition(1, A)                                   # forwarded to the president
    ch.deliver(drop=kind(Voted))
    proposed = [n for m in ch.begins(src=0, dst=2) for n, dec in m.entries if dec.petition == "a"]
    assert proposed == [1]
    assert list(ch.priests[0].president.proposals) == [1]
    ch.tick(times=2)
    ch.deliver()
    assert ch.law(2) == [A]


def test_a_retried_petition_waiting_in_the_queue_is_not_queued_twice() -> None:
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, window=1))
    ch.elect(0)
    ch.petition(0, A, B)
    ch.petition(0, B, B)
    assert list(ch.priests[0].president.queue) == [B]
    ch.deliver()
    assert ch.law(1) == [A, B]


def test_a_petition_retried_after_it_passed_is_passed_again_but_applied_once() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, A)
    ch.deliver()
    ch.petition(0, A)
    ch.deliver()
    assert ch.law(1) == [A, A]
    assert [e.is_duplicate for e in ch.applied[1]] == [False, True]


def displaced() -> Chamber:
    """President 0 proposed X at 1; a rival it never heard from passed Y there instead."""
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, X)                                   # X at 1, nobody else hears it
    ch.lose_all()
    ch.start(2)                                         # a rival 0 never hears from
    ch.deliver(drop=to(0))
    ch.petition(2, Y)                                   # Y passes at 1 among {1, 2}
    ch.deliver(drop=to(0))
    assert ch.law(1) == [Y]
    ch.absorb(0, ch.priests[0].receive(Transcript(P1, 2, ((1, Y),))))
    ch.lose_all()
    assert ch.priests[0].law.get(1) == Y
    assert ch.priests[0].is_president                   # has not heard it was outranked
    return ch


def test_a_proposal_displaced_by_another_presidents_decree_goes_again_on_retry() -> None:
    ch = displaced()
    ch.petition(0, X)                                   # the citizen retries X
    proposed = [(n, dec) for m in ch.begins(src=0, dst=1) for n, dec in m.entries if n > 1]
    assert proposed == [(2, X)]                         # once, at the next free number
    for _ in range(20):                                 # 0 is outranked, retries, carries X
        ch.deliver()
        ch.tick()
    ch.deliver()
    assert ch.law(1) == ch.law(2) == [Y, X]


def test_a_proposal_displaced_by_another_presidents_decree_goes_again_unprompted() -> None:
    ch = displaced()
    ch.tick(0, times=5)
    proposed = [(n, dec) for m in ch.begins(src=0, dst=1) for n, dec in m.entries if n > 1]
    assert (2, X) in proposed


# ---------------------------------------------------------------- whole-chamber runs


@pytest.mark.parametrize("size", [3, 5])
def test_rival_presidents_never_pass_two_decrees_at_one_number(size: int) -> None:
    """Interleave two presidents with losses; Chamber.check asserts safety every step."""
    ch = Chamber(size, unit_rules(announce=1, thrifty=False, resend_ticks=1, retry_ticks=1))
    for rnd in range(6):
        for i in (0, 1):
            ch.start(i)
            ch.petition(i, d(f"r{rnd}s{i}"))
            ch.deliver(drop=lambda s, t, m, rnd=rnd: (s + t + rnd) % 3 == 0)
            ch.tick()
    ch.deliver()
    for _ in range(20):
        ch.tick()
        ch.deliver()
    known = [p.law.known for p in ch.priests]
    assert max(known) > 1
    laws = [ch.law(i) for i in range(size)]
    shortest = min(len(law) for law in laws)
    assert all(law[:shortest] == laws[0][:shortest] for law in laws)


def test_restart_from_ledgers_keeps_promises_and_votes() -> None:
    ch = Chamber(3)
    ch.elect(0)
    ch.petition(0, X)
    ch.deliver(drop=lambda s, t, m: t == 2 or isinstance(m, Voted))   # 0 and 1 voted X
    for i in range(3):                                  # everyone crashes and restarts
        ch.restart(i)
        assert ch.priests[i].law.members.configs == [(0, frozenset(IDS[:3]))]
    ch.lose_all()
    ch.start(2)
    ch.petition(2, Y)
    ch.deliver(drop=to(0))
    assert ch.law(1) == ch.law(2) == [X, Y]


def test_passed_decrees_are_announced_together_every_announce_ticks() -> None:
    ch = Chamber(3, unit_rules(announce=10, announce_ticks=3))
    ch.start(0)
    ch.deliver()
    ch.petition(0, A)
    ch.petition(0, B)
    ch.deliver()
    assert ch.law(0) == [A, B]                  # the president knows, and answers citizens
    assert ch.law(1) == [] and ch.law(2) == []  # the others hear within announce_ticks
    ch.tick(0, times=2)
    assert not [m for _, _, m in ch.queue if isinstance(m, SuccessfulBallot)]
    ch.tick(0)
    announced = [m for _, _, m in ch.queue if isinstance(m, SuccessfulBallot)]
    assert sorted((len(m.entries), len(m.voted or ())) for m in announced) == [(0, 2), (2, 0)], \
        "one announcement carries both: their numbers to the voter, decrees to the other"
    ch.deliver()
    assert ch.law(1) == ch.law(2) == [A, B]


def test_a_voter_is_announced_the_numbers_it_voted_for_and_others_the_decrees() -> None:
    ch = Chamber(5, unit_rules(announce=1, resend_ticks=2))
    ch.elect(0)
    before = len(ch.sent)
    ch.petition(0, A, B)
    voters = sorted({t for _, t, m in ch.sent[before:] if isinstance(m, BeginBallot)})
    ch.deliver()
    assert all(ch.law(i) == [A, B] for i in range(5))
    told = {t: m for _, t, m in ch.sent[before:] if isinstance(m, SuccessfulBallot)}
    for i in range(1, 5):
        if i in voters:
            assert told[i].entries == () and told[i].voted == (1, 2)
        else:
            assert told[i].entries == ((1, A), (2, B)) and told[i].voted is None


def test_a_voter_that_lost_its_vote_asks_for_the_decree_it_was_told_by_number() -> None:
    ch = Chamber(3, unit_rules(announce=1, resend_ticks=2, inquiry_ticks=1))
    ch.elect(0)
    ch.petition(0, A)
    [voter] = {t for _, t, m in ch.queue if isinstance(m, BeginBallot)}
    ch.deliver(drop=lambda src, dst, m: isinstance(m, SuccessfulBallot))
    ch.priests[voter].votes.clear()             # as if it no longer held that vote
    before = len(ch.sent)
    ch.petition(0, B)
    ch.deliver()
    assert ch.law(voter) == []                  # decree 1 missing: it waits, then asks
    ch.tick(voter, times=ch.priests[voter].patience)
    ch.deliver()
    assert ch.law(voter) == [A, B]
    told = [m for _, t, m in ch.sent[before:] if t == voter and isinstance(m, SuccessfulBallot)]
    assert [m.voted for m in told] == [(2,)] and told[0].entries == ()    # 1 was dropped
    assert [m for _, t, m in ch.sent[before:] if t == voter and isinstance(m, Transcript)]


def test_a_full_batch_of_passed_decrees_is_announced_at_once() -> None:
    ch = Chamber(3, unit_rules(announce=2))
    ch.start(0)
    ch.deliver()
    ch.petition(0, A, B)
    ch.deliver()
    assert ch.law(1) == ch.law(2) == [A, B]


# ---------------------------------------------------------------- thrifty begin ballots


def test_thrifty_president_asks_a_bare_majority_and_the_rest_learn_by_announcement() -> None:
    ch = Chamber(5, unit_rules(announce=1))
    ch.elect(0)
    before = len(ch.sent)
    ch.petition(0, A)
    asked = sorted(t for _, t, m in ch.sent[before:] if isinstance(m, BeginBallot))
    assert len(asked) == 2 and 0 not in asked       # itself and two others: 3 of 5
    ch.deliver()
    assert all(ch.law(i) == [A] for i in range(5))
    left_out = set(range(1, 5)) - set(asked)
    assert all(not ch.priests[i].votes and not any(isinstance(r, Votes)
               for r in ch.ledgers[i]) for i in left_out)


def test_thrifty_president_asks_the_others_when_one_asked_is_down_and_then_the_quick_ones(
) -> None:
    ch = Chamber(5, unit_rules(announce=1, resend_ticks=2))
    ch.elect(0)
    before = len(ch.sent)
    ch.petition(0, A)
    first = sorted(t for _, t, m in ch.sent[before:] if isinstance(m, BeginBallot))
    ch.down.add(first[0])
    ch.deliver()
    assert not ch.priests[0].law.is_passed(1)      # one vote short
    ch.tick(0, times=2)                              # resent to every priest that did not vote
    ch.deliver()
    assert ch.priests[0].law.is_passed(1)
    before = len(ch.sent)
    ch.petition(0, B)
    second = sorted(t for _, t, m in ch.sent[before:] if isinstance(m, BeginBallot))
    assert first[0] not in second and len(second) == 2
    ch.deliver()
    assert ch.law(0) == [A, B]


def test_a_president_that_is_not_thrifty_asks_every_priest() -> None:
    ch = Chamber(5, unit_rules(announce=1, thrifty=False))
    ch.elect(0)
    before = len(ch.sent)
    ch.petition(0, A)
    assert sorted(t for _, t, m in ch.sent[before:] if isinstance(m, BeginBallot)) == [1, 2, 3, 4]


# ---------------------------------------------------------------- membership


def admitting(alpha: int = 4) -> tuple[Chamber, Ballot]:
    """Three members and listener P3; president 0 passes 'admit P3' at decree 1 (it governs
    from 1 + alpha) and X at 2, every other message lost: votes are given by hand."""
    ch = Chamber(3, listeners=1, alpha=alpha)
    ch.elect(0)
    ch.absorb(0, ch.priests[0].propose(Change("admit", P3), "n1"))
    ch.petition(0, X)
    ch.lose_all()
    return ch, ch.priests[0].last_tried


def vote(ch: Chamber, voter: int, ballot: Ballot, *numbers: int) -> None:
    president = ch.priests[0]
    ch.absorb(0, president.receive(Voted(voter, ballot, president.law.known, numbers)))
    ch.lose_all()


def test_a_president_counts_votes_for_n_only_from_the_members_governing_n() -> None:
    ch, ballot = admitting(alpha=4)
    president = ch.priests[0].president
    assert president.proposals[2].members == frozenset(IDS[:3])
    vote(ch, P3, ballot, 1, 2)                  # not a member for 1 and 2: not counted
    assert not ch.priests[0].law.is_passed(1) and not ch.priests[0].law.is_passed(2)
    vote(ch, P1, ballot, 1, 2)                  # with the president's own: 2 of 3
    assert ch.law(0) == [Change("admit", P3).decree("n1"), X]
    members = ch.priests[0].law.members
    assert members.pending_until == 5 and members.latest() == frozenset(IDS[:4])
    assert sorted(president.proposals) == [3, 4]    # olive days up to where the change holds
    assert all(president.proposals[n].decree == OLIVE_DAY for n in (3, 4))
    ch.petition(0, Y)
    ch.lose_all()
    assert president.proposals[5].decree == Y
    assert president.proposals[5].members == frozenset(IDS[:4])
    assert president.proposals[5].need == 3
    vote(ch, P3, ballot, 3, 4, 5)               # counts for 5 only: 2 of 4 there
    assert not any(ch.priests[0].law.is_passed(n) for n in (3, 4, 5))
    vote(ch, P1, ballot, 3, 4, 5)
    assert ch.priests[0].law.known == 6 and ch.law(0)[-1] == Y


def test_an_admitted_priest_is_asked_to_vote_once_the_change_governs() -> None:
    ch = Chamber(3, listeners=1, alpha=2)
    ch.elect(0)
    ch.absorb(0, ch.priests[0].propose(Change("admit", P3), "n1"))
    ch.deliver()
    assert ch.priests[3].role == "voter" and ch.priests[1].role == "voter"
    before = len(ch.sent)
    ch.petition(0, A)
    ch.deliver()
    begun = [m for _, t, m in ch.sent[before:] if t == 3 and isinstance(m, BeginBallot)]
    assert [n for m in begun for n, _ in m.entries] == [ch.priests[0].law.known - 1]
    assert all(ch.law(i)[-1] == A for i in range(4))


def test_a_president_proposes_nothing_at_or_beyond_known_plus_alpha() -> None:
    """The law below ``known`` fixes the members of every number below ``known + alpha``:
    beyond, a change not yet known might govern, so nothing is proposed there."""
    ch = Chamber(3, unit_rules(announce=1, thrifty=False, window=100), alpha=4)
    ch.elect(0)
    president = ch.priests[0].president
    decrees = [d(f"p{i}") for i in range(10)]
    ch.petition(0, *decrees)
    ch.lose_all()
    assert ch.priests[0].law.known == 1
    assert sorted(president.proposals) == [1, 2, 3, 4] and len(president.queue) == 6
    vote(ch, P1, ch.priests[0].last_tried, 1, 2)
    assert ch.priests[0].law.known == 3
    assert sorted(president.proposals) == [3, 4, 5, 6]      # known + alpha moved on
    for _ in range(10):                       # resends, inquiries for what was lost
        ch.tick()
        ch.deliver()
    assert ch.law(1) == decrees
    assert all(m.entries[-1][0] < m.known + 4 for m in ch.begins(src=0))


def test_a_membership_change_is_proposed_only_by_the_president() -> None:
    ch = Chamber(3, listeners=1, alpha=3)
    ch.elect(0)
    assert not ch.priests[1].propose(Change("admit", P3), "n1")
    ch.absorb(0, ch.priests[0].propose(Change("remove", P2), "n2"))
    ch.deliver()
    assert ch.law(1) == [Change("remove", P2).decree("n2"), OLIVE_DAY, OLIVE_DAY]
    assert ch.priests[1].law.members_at(4) == frozenset(IDS[:2])
    removed = ch.priests[2]                     # told no more once it no longer sits: the
    ch.absorb(2, removed.hear_of(P1, ch.priests[1].law.known))   # runtime's roster tells it
    for _ in range(removed.patience + 1):
        ch.tick(2)
        ch.deliver()
    assert ch.law(2) == ch.law(1) and removed.role == "listener"
