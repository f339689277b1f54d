"""The order of a priest's batch: what an answer depends on is durable before it is sent.

A real Worker on fakeredis, stepped by hand, with its ledger's write and its
messenger's flush wrapped to record which came first.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fakeredis

from paxos_redis.messengers.citizens import START_BALLOT, PetitionEntry, found_fields, parse_replies
from paxos_redis.messengers.wire import Wire
from paxos_redis.protocol import Ballot, Decree
from paxos_redis.protocol.membership import Founding
from paxos_redis.protocol.messages import BeginBallot, LastVote, NextBallot, SuccessfulBallot, Voted
from paxos_redis.protocol.records import Identity, Passed, Promise, Tried, Votes
from paxos_redis.runtime.read_size import READ_MIN
from paxos_redis.runtime.reply_streams import REPLY_TTL_REFRESH_S
from paxos_redis.runtime.settings import Settings
from paxos_redis.runtime.worker import LAZY_TICKS, Worker
from paxos_redis.storage.ledger import FileLedger, replay

PARLIAMENT = "commit"
WIRE = Wire(PARLIAMENT)
A = Decree("pid-a", b"a")
#: the priests' identities; a parliament of N members is founded with the first N
P0, P1, P2 = PRIESTS = (0xA0, 0xA1, 0xA2)
#: what a founded priest's ledger holds before the test begins: its identity, decree 0
FOUNDED = [Identity, Passed]


@contextmanager
def worker(tmp_path: Path, members: int, index: int,
           **rules: Any) -> Iterator[tuple[Worker, Any, list[Any]]]:
    """A started worker for priest ``PRIESTS[index]`` of a parliament founded with the first
    ``members`` priests (decree 0 durable: the citizens' decrees start at 1), its Redis, and
    the log of ("write", records) / "send"."""
    settings = Settings(ledger_dir=tmp_path, parliament=PARLIAMENT)
    settings = settings.with_(rules=dataclasses.replace(settings.rules, **rules))
    priest = PRIESTS[index]
    redis = fakeredis.FakeRedis()
    ledger = FileLedger.open(settings.ledger_path(priest), create=Identity(PARLIAMENT, priest))
    w = Worker(settings, redis, ledger)
    w.start()
    founding = Founding("g1", 4096, PRIESTS[:members])
    redis.xadd(w.keys.inbox(priest), WIRE.seal_fields(found_fields(founding)))   # god's word
    w.step()
    w._sync()
    w.messenger.conduit.push()
    assert w.priest.role == "voter" and w.priest.law.known == 1 and durable(w) == FOUNDED
    log: list[Any] = []
    write, flush = w.ledger.write, w.messenger.flush

    def logged_write(records: list[Any]) -> None:
        write(records)
        log.append(("write", [type(r) for r in records]))

    def logged_flush(outgoing: Any, acks: Any, extra: Any = (), **kwargs: Any) -> int:
        if outgoing or acks or extra or any((kwargs.get("other_acks") or {}).values()):
            log.append("send")                 # an empty flush sends nothing
        return flush(outgoing, acks, extra, **kwargs)

    post = w.messenger.post

    def logged_post(outgoing: Any) -> None:
        log.append("send")
        post(outgoing)

    step = w.step

    def step_and_push() -> None:              # what the batch queued, written as its next read would
        step()
        w.messenger.conduit.push()

    w.step = step_and_push                     # type: ignore[method-assign]
    w.ledger.write = logged_write              # type: ignore[method-assign]
    w.messenger.flush = logged_flush           # type: ignore[method-assign]
    w.messenger.post = logged_post             # type: ignore[method-assign]
    try:
        yield w, redis, log
    finally:
        w.close()


def durable(w: Worker) -> list[type]:
    """The kinds of record in the ledger file (what a kill -9 now would leave)."""
    path = w.ledger.path
    return [type(r) for r in replay(path, path.read_bytes(), archived=False)[0]]


def sent_to(redis: Any, w: Worker, priest: int) -> list[Any]:
    return [WIRE.open(fields) for _, fields in redis.xrange(w.keys.inbox(priest))
            if fields.get(b"role") != b"god"]


def test_a_vote_is_durable_before_it_is_sent(tmp_path: Path) -> None:
    with worker(tmp_path, 3, 1) as (w, redis, log):
        redis.xadd(w.keys.inbox(P1), WIRE.seal(BeginBallot(P0, Ballot(1, P0), 1, ((1, A),))))
        w.step()
        assert log == [("write", [Votes]), "send"]
        assert [type(m) for m in sent_to(redis, w, P0)] == [Voted]


def test_a_note_of_decrees_passed_does_not_hold_up_the_messages(tmp_path: Path) -> None:
    with worker(tmp_path, 3, 1) as (w, redis, log):
        redis.xadd(w.keys.inbox(P1), WIRE.seal(SuccessfulBallot(P0, Ballot(1, P0), 2,
                                                                ((1, A),))))
        w.next_heartbeat = float("inf")
        w.step()
        assert log == ["send"]                          # acked at once, no fsync
        assert w.priest.law.known == 2
        assert redis.xpending(w.keys.inbox(P1), "priests")["pending"] == 0
        assert durable(w) == FOUNDED                    # the note waits for the next fsync
        redis.xadd(w.keys.inbox(P1), WIRE.seal(BeginBallot(P0, Ballot(1, P0), 2,
                                                           ((2, Decree("pid-b", b"b")),))))
        w.step()
        assert durable(w) == [*FOUNDED, Passed, Votes]  # it rode on the vote's


def test_notes_are_durable_by_the_next_heartbeat_and_at_a_clean_stop(tmp_path: Path) -> None:
    passed = SuccessfulBallot(P0, Ballot(1, P0), 2, ((1, A),))
    with worker(tmp_path, 3, 1) as (w, redis, log):
        redis.xadd(w.keys.inbox(P1), WIRE.seal(passed))
        w.next_heartbeat = float("inf")
        w.step()
        assert durable(w) == FOUNDED
        w.next_heartbeat = 0.0
        w.step()
        assert durable(w) == [*FOUNDED, Passed]
    with worker(tmp_path / "stop", 3, 1) as (w, redis, log):
        redis.xadd(w.keys.inbox(P1), WIRE.seal(passed))
        w.next_heartbeat = float("inf")
        w.step()
        path = w.ledger.path
    assert [type(r) for r in replay(path, path.read_bytes(), archived=False)[0]] == \
        [*FOUNDED, Passed]


def test_a_lone_priest_writes_its_vote_before_it_answers_the_citizen(tmp_path: Path) -> None:
    with worker(tmp_path, 1, 0) as (w, redis, log):
        redis.xadd(w.keys.inbox(P0), WIRE.seal_fields(START_BALLOT))
        w.step()
        assert w.priest.is_president
        log.clear()
        redis.xadd(w.keys.petitions(), PetitionEntry(A, "citizen-1").fields())
        w.step()
        assert log == [("write", [Votes, Passed]), "send"]    # its vote alone passed it
        replies = redis.xrange(w.keys.replies("citizen-1"))
        answers = sorted((type(r).__name__, r.n) for _, fields in replies
                         for r in parse_replies(fields))
        assert answers == [("Receipt", 1), ("Reply", 1)]      # its reply, and its vote's receipt


def start_presiding(w: Worker, redis: Any) -> Ballot:
    """Priest P0 of three starts a ballot and P1 promises it: P0 presides; its ballot."""
    redis.xadd(w.keys.inbox(P0), WIRE.seal_fields(START_BALLOT))
    w.step()
    [next_ballot] = [m for m in sent_to(redis, w, P1) if isinstance(m, NextBallot)]
    redis.xadd(w.keys.inbox(P0), WIRE.seal(LastVote(P1, next_ballot.ballot, 1,
                                                    next_ballot.from_n, (), ())))
    w.step()
    assert w.priest.is_president
    return next_ballot.ballot


def test_a_president_with_a_backlog_leaves_petitions_in_redis_until_its_window_has_room(
        tmp_path: Path) -> None:
    with worker(tmp_path, 3, 0, window_bytes=1000) as (w, redis, log):
        ballot = start_presiding(w, redis)

        def petition(name: str) -> None:
            decree = Decree(name, name.encode().ljust(600, b"."))
            redis.xadd(w.keys.petitions(), PetitionEntry(decree, "citizen-1").fields())

        for i in range(4):
            petition(f"pid-{i}")
        w.step()                       # 2 proposed (1,200 bytes in flight), 2 queued
        president = w.priest.president
        assert president is not None and president.backlog
        petition("pid-late")
        w.step()
        assert redis.xpending(w.keys.petitions(), "priests")["pending"] == 4   # not read
        redis.xadd(w.keys.inbox(P0), WIRE.seal(Voted(P1, ballot, 1, (1, 2))))
        w.step()                       # 2 passed: the queue goes into the window
        assert w.priest.law.known == 3 and not president.backlog
        w.step()
        assert "pid-late" in president.in_flight_ids


def test_a_priest_reads_fewer_entries_at_once_when_they_are_large(tmp_path: Path) -> None:
    with worker(tmp_path, 3, 1) as (w, redis, log):
        assert w.reads.count == w.settings.read_count == 1024
        large = [(b"1-0", {b"code": b"2", b"decree": b"x" * (1 << 20)})] * 4
        for _ in range(20):
            w.reads.fit({w.messenger.inbox: large})
        assert w.reads.count == READ_MIN               # about READ_BYTES a read, at least 16
        small = [(b"1-0", {b"code": b"2", b"decree": b"x" * 100})] * 4
        for _ in range(20):
            w.reads.fit({w.messenger.inbox: small})
        assert w.reads.count == 1024


def test_a_reply_stream_expires_and_gets_its_ttl_again_after_a_reconnection(
        tmp_path: Path) -> None:
    """A priest sets a reply stream's TTL once a minute, not per reply; a stream written
    since gets it again a minute on, written again or not; a new connection (Redis may
    have restarted empty, and XADD recreated the stream) sets it again at once."""
    with worker(tmp_path, 1, 0) as (w, redis, log):
        redis.xadd(w.keys.inbox(P0), WIRE.seal_fields(START_BALLOT))
        w.step()
        stream = w.keys.replies("citizen-1")

        def petition(pid: str) -> None:
            redis.xadd(w.keys.petitions(), PetitionEntry(Decree(pid, b"x"), "citizen-1").fields())
            w.step()
            assert redis.exists(stream)

        petition("pid-1")
        assert 290 <= redis.ttl(stream) <= 300
        redis.delete(stream)                    # as if Redis lost it, on the same connection
        petition("pid-2")
        assert redis.ttl(stream) == -1          # not set again within the minute...
        w.heartbeat()
        assert redis.ttl(stream) == -1
        w.reply_streams.ttl_set[stream] -= REPLY_TTL_REFRESH_S        # ... but once it has passed
        w.heartbeat()
        assert 290 <= redis.ttl(stream) <= 300
        redis.delete(stream)
        w.messenger.conduit.close()             # ... unless the priest had to reconnect
        petition("pid-3")
        assert 290 <= redis.ttl(stream) <= 300


def test_a_voter_sends_the_citizen_its_receipt_once_its_vote_is_durable(tmp_path: Path) -> None:
    with worker(tmp_path, 3, 1) as (w, redis, log):
        ballot = Ballot(1, P0)
        redis.xadd(w.keys.inbox(P1), WIRE.seal(BeginBallot(P0, ballot, 1, ((1, A),),
                                                           (1, "c-7", 3))))
        w.step()
        assert log == [("write", [Votes]), "send"]
        [(_, fields)] = redis.xrange(w.keys.replies("c-7"))
        [receipt] = parse_replies(fields)
        assert (receipt.priest, receipt.of, receipt.ballot, receipt.n, receipt.petition) == \
            (P1, 3, ballot, 1, "pid-a")


def test_a_president_sends_its_begin_ballot_while_its_own_vote_is_written(
        tmp_path: Path) -> None:
    with worker(tmp_path, 3, 0) as (w, redis, log):
        redis.xadd(w.keys.inbox(P0), WIRE.seal_fields(START_BALLOT))
        w.step()
        assert log == [("write", [Tried, Promise]), "send"]    # tried before next ballot
        [next_ballot] = [m for m in sent_to(redis, w, P1) if isinstance(m, NextBallot)]
        redis.xadd(w.keys.inbox(P0), WIRE.seal(LastVote(P1, next_ballot.ballot, 1,
                                                        next_ballot.from_n, (), ())))
        w.step()
        assert w.priest.is_president
        log.clear()
        redis.xadd(w.keys.petitions(), PetitionEntry(A, "citizen-1").fields())
        w.step()
        assert log == ["send", ("write", [Votes]), "send"]    # then its own vote's receipt
        assert [type(m) for m in sent_to(redis, w, P1)][-1] is BeginBallot
        [(_, fields)] = redis.xrange(w.keys.replies("citizen-1"))
        assert [(r.priest, r.n) for r in parse_replies(fields)] == [(P0, 1)]


def test_a_vouched_petition_is_answered_by_receipts_not_by_the_president(
        tmp_path: Path) -> None:
    with worker(tmp_path, 3, 0) as (w, redis, log):
        ballot = start_presiding(w, redis)
        redis.xadd(w.keys.petitions(), PetitionEntry(A, "citizen-1").fields())
        w.step()
        [begin] = [m for m in sent_to(redis, w, P1) if isinstance(m, BeginBallot)]
        assert begin.receipt == (1, "citizen-1", 3)
        redis.xadd(w.keys.inbox(P0), WIRE.seal(Voted(P1, ballot, 1, (1,))))
        w.step()
        assert w.priest.law.known == 2 and not w.waiting.petitions   # passed, and the entry acked
        assert redis.xpending(w.keys.petitions(), "priests")["pending"] == 0
        answers = [type(r).__name__ for _, fields in redis.xrange(w.keys.replies("citizen-1"))
                   for r in parse_replies(fields)]
        assert answers == ["Receipt"]          # its own; P1's comes from P1's process


def test_a_priest_that_does_not_preside_sleeps_through_ticks_and_counts_them(
        tmp_path: Path) -> None:
    with worker(tmp_path, 3, 1) as (w, redis, log):
        blocks: list[int] = []
        w.messenger.receive_with = lambda others, count, block_ms: (  # type: ignore[method-assign]
            blocks.append(block_ms) or {})
        w.next_tick = time.monotonic() + w.tick_s
        w.next_heartbeat = float("inf")
        w.step()
        assert blocks[-1] >= (LAZY_TICKS - 0.5) * w.settings.tick_ms   # no message: it sleeps on
        before = w.priest.now
        w.next_tick = time.monotonic() - 2.5 * w.tick_s                # three ticks went by
        w._process({})
        assert w.priest.now == before + 3
        w.priest.start_ballot()                                        # a president ticks each tick
        w.next_tick = time.monotonic() + w.tick_s
        w.step()
        assert blocks[-1] <= w.settings.tick_ms


def test_a_priest_stopped_while_it_starts_takes_no_claim_and_writes_nothing(
        tmp_path: Path) -> None:
    """SIGTERM that arrives while the process still opens its ledger (the entry point's
    handler sets the event the worker is given) stops it cleanly before it serves."""
    settings = Settings(ledger_dir=tmp_path, parliament=PARLIAMENT)
    redis = fakeredis.FakeRedis()
    path = settings.ledger_path(P0)
    stopping = threading.Event()
    w = Worker(settings, redis, FileLedger.open(path, create=Identity(PARLIAMENT, P0)),
               stopping=stopping)
    size = path.stat().st_size
    stopping.set()                                      # the signal, before run()
    w.run()
    assert redis.get(w.keys.claim(P0)) is None and not redis.exists(w.keys.heartbeat(P0))
    assert path.stat().st_size == size
    with FileLedger.open(path) as ledger:              # closed, so it opens again
        assert [type(r) for r in ledger.records] == [Identity]
