"""Shared fixtures.  Keep this small: helpers live in their own modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from redis_server import RedisServer, redis_server_binary

from paxos_redis.messengers.connection import connect


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` of our own on a free port; always stopped afterwards."""
    if redis_server_binary() is None:
        pytest.skip("redis-server is not on PATH: install Redis 7 to run real-server tests")
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["fakeredis", pytest.param("real", marks=pytest.mark.redis)])
def fake_or_real_redis(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The same test on fakeredis and on a real ``redis-server`` of our own (bytes replies)."""
    if request.param == "fakeredis":
        fake = fakeredis.FakeRedis()
        yield fake
        fake.close()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        real = connect(server.url)
        yield real
        real.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nemesis", "fault-injection runs on real processes")
    group.addoption("--nemesis-runs", type=int, default=3, help="runs (seeds) (default 3)")
    group.addoption("--nemesis-seconds", type=float, default=20.0,
                    help="seconds of faults per run (default 20)")
    group.addoption("--nemesis-seed", type=int, default=0, help="first seed (default 0)")
    parser.addoption("--fuzz-runs", type=int, default=3000,
                     help="inputs for the inbox fuzzer (default 3000)")
