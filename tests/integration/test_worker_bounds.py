"""A priest worker's own memory stays bounded: petitions that never pass are forgotten;
a pack of petitions is acked once none of them waits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import fakeredis

from paxos_redis.messengers.citizens import PetitionEntry, petition_fields
from paxos_redis.protocol import Applied, Decree, Effects, Founding, Transcript
from paxos_redis.protocol.records import Identity
from paxos_redis.runtime.settings import Settings
from paxos_redis.runtime.waiting import WAITING_TTL_S
from paxos_redis.runtime.worker import Worker
from paxos_redis.storage.ledger import FileLedger

PRIEST = 0xB0D


def new_worker(settings: Settings, redis: Any) -> Worker:
    """A worker for a new priest (its ledger made here), not founded: petitions still wait."""
    ledger = FileLedger.open(settings.ledger_path(PRIEST),
                             create=Identity(settings.parliament, PRIEST))
    return Worker(settings, redis, ledger)


def read(worker: Worker, *pids: str) -> list[Any]:
    """The worker reads petitions ``pids`` (entry ids 1-0, 2-0, ...); returns its acks."""
    entries = [(f"{i + 1}-0".encode(), PetitionEntry(Decree(pid, b"x"), "citizen").fields())
               for i, pid in enumerate(pids)]
    acks: list[Any] = []
    worker._petitions(entries, Effects(), [], acks)
    return acks


def test_waiting_petitions_expire_and_are_capped(tmp_path: Path) -> None:
    settings = Settings(ledger_dir=tmp_path, parliament="bounds")
    worker = new_worker(settings, fakeredis.FakeRedis())
    try:
        assert read(worker, "a", "b", "c", "d", "e") == []
        assert list(worker.waiting.petitions) == ["a", "b", "c", "d", "e"]
        read(worker, "a")                            # a retry refreshes "a": now the newest
        assert list(worker.waiting.petitions) == ["b", "c", "d", "e", "a"]
        worker.waiting.most = 3
        acks: list[Any] = []
        worker.waiting.forget(time.monotonic(), acks)
        assert list(worker.waiting.petitions) == ["d", "e", "a"] and acks == [b"2-0", b"3-0"]
        acks = []
        worker.waiting.forget(time.monotonic() + WAITING_TTL_S + 1, acks)
        assert not worker.waiting.petitions and sorted(acks) == [b"1-0", b"4-0", b"5-0"]
    finally:
        worker.close()


def test_a_pack_of_petitions_is_acked_once_none_of_them_waits(tmp_path: Path) -> None:
    settings = Settings(ledger_dir=tmp_path, parliament="bounds", max_decree_bytes=8)
    redis = fakeredis.FakeRedis()
    worker = new_worker(settings, redis)
    try:
        big = Decree("big", b"x" * 9)
        [pack] = petition_fields([Decree("a", b"1"), big, Decree("b", b"2")], "citizen")
        extra: list[Any] = []
        acks: list[Any] = []
        worker._petitions([(b"1-0", pack)], Effects(), extra, acks)
        assert [r.pid for _, r in extra] == ["big"] and extra[0][1].error   # refused alone
        assert list(worker.waiting.petitions) == ["a", "b"] and acks == []
        worker._petitions([(b"1-0", pack)], Effects(), [], acks)            # reclaimed: again
        assert worker.waiting.unanswered == {b"1-0": 2}
        stream = worker.reply_streams.stream
        worker.waiting.answer([Applied(0, Decree("a", b"1"), 0)], stream, [], acks)
        assert acks == []                                                   # "b" still waits
        worker.waiting.answer([Applied(1, Decree("b", b"2"), 1)], stream, [], acks)
        assert acks == [b"1-0"] and not worker.waiting.unanswered
        worker._petitions([(b"2-0", {b"pack": b"\x00\x00\x00\x09ab", b"reply": b"citizen"})],
                          Effects(), [], acks)                              # a mangled pack
        assert worker.refused == 1 and acks == [b"1-0"]
        [(_, dead)] = redis.xrange(worker.keys.deadletter())
        assert b"pack" in dead[b"reason"]
    finally:
        worker.close()


def test_what_the_core_answers_at_once_is_replied_to_and_never_waits(tmp_path: Path) -> None:
    """The core's triage (``Priest.triage``): a retry of a passed petition gets its number,
    an id the parliament keeps for itself an error; only the rest waits for a number."""
    settings = Settings(ledger_dir=tmp_path, parliament="bounds")
    worker = new_worker(settings, fakeredis.FakeRedis())
    try:
        founding = Founding("g1", 4096, (0xA0A,)).decree()
        worker.priest.receive(Transcript(0xA0A, 2, ((0, founding), (1, Decree("old", b"1")))))
        reserved = Decree("!members:admit:000000000b0d:n1", b"admit 000000000b0d")
        [pack] = petition_fields([Decree("old", b"1"), reserved, Decree("new", b"2")],
                                 "citizen")
        extra: list[Any] = []
        acks: list[Any] = []
        worker._petitions([(b"1-0", pack)], Effects(), extra, acks)
        assert [(r.pid, r.n) for _, r in extra] == [("old", 1), (reserved.petition, None)]
        assert "the parliament's own" in extra[1][1].error
        assert list(worker.waiting.petitions) == ["new"] and worker.waiting.unanswered == {b"1-0": 1}
    finally:
        worker.close()
