"""Bounded memory in the core: the law's recent window, the archive behind it, the dedup window."""

from __future__ import annotations

import pytest
from chamber import IDS, P0, P1, P2, SENATE, ledger, make, unit_rules
from hypothesis import given, settings
from hypothesis import strategies as st

from paxos_redis.protocol import (
    OLIVE_DAY,
    Applied,
    Ballot,
    BeginBallot,
    Decree,
    Identity,
    Inquiry,
    Law,
    NextBallot,
    Priest,
    ProtocolError,
    SuccessfulBallot,
    Transcript,
)
from paxos_redis.protocol.compaction import compact
from paxos_redis.protocol.law import Dedup
from paxos_redis.protocol.records import Archived, Members, Record
from paxos_redis.storage.archive import MemoryArchive

B1 = Ballot(1, P0)


def d(n: int, pid: str | None = None) -> Decree:
    return Decree(f"p{n}" if pid is None else pid, str(n).encode())


def archived_law(count: int, memory: int, dedup: int = 1000) -> tuple[Law, MemoryArchive]:
    """A law of ``count`` decrees whose first ``count`` are archived, ``memory`` kept."""
    archive = MemoryArchive()
    law = Law(memory=memory, dedup=dedup)
    law.resume(archive)
    _, applied = law.learn([(n, d(n)) for n in range(count)])
    archive.append(applied)
    law.trim()
    return law, archive


# ---------------------------------------------------------------- the window

def test_without_an_archive_nothing_is_forgotten() -> None:
    law = Law(memory=2)
    law.learn([(n, d(n)) for n in range(10)])
    assert sorted(law.decrees) == list(range(10)) and law.floor == 0


def test_nothing_is_forgotten_before_the_archive_holds_it() -> None:
    archive = MemoryArchive()
    law = Law(memory=2)
    law.resume(archive)
    _, applied = law.learn([(n, d(n)) for n in range(10)])
    assert law.floor == 0 and len(law.decrees) == 10          # the archive holds nothing yet
    archive.append(applied[:5])
    law.trim()
    assert law.floor == 5 and sorted(law.decrees) == list(range(5, 10))
    archive.append(applied[5:])
    law.trim()
    assert law.floor == 8 and sorted(law.decrees) == [8, 9]   # memory=2 below known


def test_large_decrees_are_forgotten_by_bytes_but_never_before_they_are_archived() -> None:
    archive = MemoryArchive()
    law = Law(memory=1000, memory_bytes=1000)
    law.resume(archive)
    big = [(n, Decree(f"p{n}", bytes(100))) for n in range(50)]
    _, applied = law.learn(big)
    assert law.floor == 0 and law.bytes == 5000                # nothing archived: all kept
    archive.append(applied[:30])
    law.trim()
    assert law.floor == 30 and law.bytes == 2000               # only archived ones go
    archive.append(applied[30:])
    law.trim()
    assert law.floor == 40 and law.bytes == 1000 and sorted(law.decrees) == list(range(40, 50))
    assert [e.decree for e in law.read(0, 50)] == [decree for _, decree in big]


def test_compaction_is_due_when_unarchived_bytes_reach_half_the_budget() -> None:
    from paxos_redis.protocol.compaction import due
    archive = MemoryArchive()
    priest = make(0, 1, unit_rules(law_memory=1000, law_memory_bytes=1000), archive=archive)
    founding = priest.law.bytes                                # decree 0's body
    priest.law.learn([(n, Decree(f"p{n}", bytes(100))) for n in range(1, 5)])
    assert priest.law.bytes == founding + 400 < 500
    assert not due(priest, archive, every=500)                 # under half the budget
    priest.law.learn([(5, Decree("p5", bytes(100)))])
    assert due(priest, archive, every=500)                     # half the budget


def test_reads_span_the_archive_and_memory_seamlessly() -> None:
    law, _ = archived_law(100, memory=10)
    assert law.floor == 90 and len(law.decrees) == 10 and law.known == 100
    assert [e.n for e in law.read(85, 10)] == list(range(85, 95))
    assert law.passed_from(0, 3) == ((0, d(0)), (1, d(1)), (2, d(2)))
    assert law.passed_from(88, 5) == tuple((n, d(n)) for n in range(88, 93))
    assert law.get(3) == d(3) and law.get(95) == d(95) and law.get(100) is None
    assert law.is_passed(3) and not law.is_passed(100)
    assert law.highest() == 99
    assert law.read(98, 10) == [Applied(98, d(98), 98), Applied(99, d(99), 99)]


def test_transcript_of_decrees_older_than_the_window_comes_from_the_archive() -> None:
    rules = unit_rules(law_memory=4, batch=8)
    archive = MemoryArchive()
    priest = make(0, 3, rules, archive=archive)
    founding = priest.law.get(0)
    priest.receive(SuccessfulBallot(P1, Ballot(1, P1), 1, tuple((n, d(n)) for n in range(1, 40))))
    compact(priest, archive, lambda records: None)
    assert priest.law.floor == 36 and archive.end == 40
    eff = priest.receive(Inquiry(P2, 3))
    assert eff.messages == [(P2, Transcript(P0, 40, tuple((n, d(n)) for n in range(3, 11))))]
    eff = priest.receive(Inquiry(IDS[5], 0))                  # a newcomer: from the founding
    assert eff.messages == [(IDS[5], Transcript(P0, 40, ((0, founding), *((n, d(n))
                                                                            for n in range(1, 8)))))]
    eff = priest.receive(NextBallot(P2, Ballot(5, P2), 1, 1))
    (_, last_vote), = eff.messages
    assert last_vote.passed == tuple((n, d(n)) for n in range(1, 9))


def test_holes_above_known_are_never_trimmed() -> None:
    archive = MemoryArchive()
    law = Law(memory=1)
    law.resume(archive)
    _, applied = law.learn([(n, d(n)) for n in range(5)] + [(9, d(9))])
    archive.append(applied)
    law.trim()
    assert sorted(law.decrees) == [4, 9] and law.highest() == 9
    assert law.passed_from(9, 5) == ((9, d(9)),)


# ---------------------------------------------------------------- the dedup window

def test_dedup_recognises_a_retry_within_the_window_and_not_after() -> None:
    seen = Dedup(window=10)
    assert seen.first(0, "a") == 0
    assert seen.first(10, "a") == 0            # 10 decrees later: still the first
    assert seen.first(11, "b") == 11           # and "a" is now forgotten ...
    assert seen.first(12, "a") == 12           # ... so it counts as new
    assert seen.first(20, "a") == 12


def test_a_law_with_a_small_dedup_window_applies_a_late_copy_as_new() -> None:
    law = Law(dedup=3)
    _, applied = law.learn([(0, d(0, "x")), (1, d(1)), (2, d(2)), (3, d(3, "x")),
                            (4, d(4)), (5, d(5)), (6, d(6)), (7, d(7, "x"))])
    assert [(e.n, e.first) for e in applied if e.decree.petition == "x"] == [
        (0, 0), (3, 0), (7, 7)]
    assert law.first_of["x"] == 7


def test_olive_days_take_no_room_in_the_dedup_window() -> None:
    law = Law(dedup=2)
    law.learn([(0, OLIVE_DAY), (1, d(1)), (2, OLIVE_DAY)])
    assert law.first_of == {"p1": 1}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=60), st.integers(1, 8),
       st.integers(1, 6), st.integers(0, 59))
def test_property_resuming_from_an_archive_gives_the_same_firsts(
        pids: list[int], window: int, memory: int, cut: int) -> None:
    """A priest restarted from archive + ledger computes the same ``first`` for every decree
    as one that never stopped: the dedup window is a function of the law alone."""
    decrees = [(n, Decree(f"x{p}", b"")) for n, p in enumerate(pids)]
    whole = Law(dedup=window)
    _, expected = whole.learn(decrees)
    cut = min(cut, len(decrees))
    archive = MemoryArchive()
    before = Law(dedup=window, memory=memory)
    before.resume(archive)
    _, applied = before.learn(decrees[:cut])
    archive.append(applied)
    after = Law(dedup=window, memory=memory)
    after.resume(archive)                        # a restart: the rest comes from the ledger
    _, rest = after.learn(decrees[cut:])
    assert applied + rest == expected
    assert after.read(0, len(decrees)) == expected


# ---------------------------------------------------------------- restore and snapshot

def test_snapshot_replays_over_the_archive_to_the_same_priest() -> None:
    rules = unit_rules(law_memory=2)
    archive = MemoryArchive()
    p = make(1, 3, rules, archive=archive)
    records: list[Record] = ledger(P1)
    for eff in (p.receive(NextBallot(P0, B1, 1, 1)),
                p.receive(BeginBallot(P0, B1, 1, tuple((n, d(n)) for n in range(1, 12)))),
                p.receive(SuccessfulBallot(P0, B1, 8, tuple((n, d(n)) for n in range(1, 8)))),
                p.receive(SuccessfulBallot(P0, B1, 8, ((10, d(10)),))),
                p.start_ballot()):
        records += eff.records
    snapshot: list[Record] = []
    compact(p, archive, snapshot.extend)
    assert p.stamp == 4                         # 2 promises, a vote, a ballot tried, of which
    assert snapshot[0] == Identity(SENATE, P1, stamp=1)   # the snapshot keeps 3: 1 carried over
    assert snapshot[1] == Archived(8)
    assert snapshot[2] == Members(8, p.law.members) and archive.end == 8
    q = Priest.restore(snapshot, rules, archive)
    assert (q.next_bal, q.last_tried, q.votes) == (p.next_bal, p.last_tried, p.votes)
    assert q.votes == {n: (B1, d(n)) for n in (8, 9, 10, 11)}
    assert q.law.known == 8 and q.law.highest() == 10 and q.law.get(10) == d(10)
    assert q.law.read(0, 8) == p.law.read(0, 8)
    assert q.law.members.configs == p.law.members.configs == [(0, frozenset(IDS[:3]))]
    assert q.role == "voter" and q.stamp == p.stamp
    old = Priest.restore(records, rules, archive)              # the uncompacted ledger too
    assert (old.next_bal, old.votes, old.law.known) == (q.next_bal, q.votes, q.law.known)
    assert old.law.members.configs == q.law.members.configs


def test_a_ledger_archived_beyond_its_archive_is_refused() -> None:
    with pytest.raises(ProtocolError, match="archive"):
        Priest.restore([Identity(SENATE, P0), Archived(5)], unit_rules(), MemoryArchive())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=80), st.integers(1, 6),
       st.integers(1, 12), st.lists(st.integers(1, 9), min_size=1, max_size=20),
       st.integers(0, 79), st.integers(1, 40))
def test_property_reads_match_the_whole_law_while_batches_arrive_and_memory_is_trimmed(
        pids: list[int], memory: int, window: int, batches: list[int], start: int,
        limit: int) -> None:
    """The law kept in memory (applied decrees as made when applied) and the archive read
    together give what a law that never forgot anything gives, for any range, at every
    point of learning in batches out of order and archiving as compaction would."""
    decrees = [(n, Decree(f"x{p}", b"")) for n, p in enumerate(pids)]
    _, expected = Law(dedup=window).learn(decrees)
    archive = MemoryArchive()
    law = Law(dedup=window, memory=memory)
    law.resume(archive)
    pos = 0
    for size in batches * len(decrees):
        if pos >= len(decrees):
            break
        batch = decrees[pos : pos + size]
        law.learn(batch[1:])                        # out of order: a hole, then filled
        law.learn(batch[:1])
        pos += len(batch)
        archive.append(law.read(archive.end, law.known - archive.end))
        law.trim()
        assert law.read(0, law.known) == expected[: law.known]
        assert law.read(start, limit) == expected[start : min(start + limit, law.known)]
        assert law.floor == max(0, law.known - memory)
