"""A priest worker's own memory stays bounded: petitions that never pass are forgotten."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import fakeredis
import pytest

import paxos_redis.worker as worker_module
from paxos_redis.citizens import PetitionEntry
from paxos_redis.protocol import Decree, Effects
from paxos_redis.seats import claim
from paxos_redis.settings import Settings
from paxos_redis.worker import WAITING_TTL_S, Worker


def read(worker: Worker, *pids: str) -> list[Any]:
    """The worker reads petitions ``pids`` (entry ids 1-0, 2-0, ...); returns its acks."""
    entries = [(f"{i + 1}-0".encode(), PetitionEntry(Decree(pid, b"x"), "citizen").fields())
               for i, pid in enumerate(pids)]
    acks: list[Any] = []
    worker._petitions(entries, Effects(), [], acks)
    return acks


def test_waiting_petitions_expire_and_are_capped(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(ledger_dir=tmp_path, priests=3, parliament="bounds", seat=0)
    worker = Worker(settings, fakeredis.FakeRedis(), claim(settings, 3))
    try:
        assert read(worker, "a", "b", "c", "d", "e") == []
        assert list(worker.waiting) == ["a", "b", "c", "d", "e"]
        read(worker, "a")                            # a retry refreshes "a": now the newest
        assert list(worker.waiting) == ["b", "c", "d", "e", "a"]
        monkeypatch.setattr(worker_module, "WAITING_MAX", 3)
        acks: list[Any] = []
        worker._forget_waiting(time.monotonic(), acks)
        assert list(worker.waiting) == ["d", "e", "a"] and acks == [b"2-0", b"3-0"]
        acks = []
        worker._forget_waiting(time.monotonic() + WAITING_TTL_S + 1, acks)
        assert not worker.waiting and sorted(acks) == [b"1-0", b"4-0", b"5-0"]
    finally:
        worker.close()
