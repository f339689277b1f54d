"""The messenger on Redis Streams, on fakeredis and on a real redis-server we start ourselves.

Also connection.py: URLs, credentials, timeouts, and riding out an outage.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis_server import RedisServer, redis_server_binary

from paxos_redis.messengers.connection import check, connect, redact
from paxos_redis.messengers.keys import PRIEST_GROUP, STAT_DEADLETTER, Keys
from paxos_redis.messengers.streams import Messenger

KEYS = Keys("senate")
#: three priests' identities (any numbers in [1, 2**48))
P0, P1, P2 = 0xA11CE, 0xB0B, 0xCA201


@pytest.fixture
def client(fake_or_real_redis: Any) -> Any:
    return fake_or_real_redis


def messenger(client: Any, priest: int, consumer: str | None = None, **kw: Any) -> Messenger:
    m = Messenger(client, KEYS, priest, consumer or f"priest{priest:x}", **kw)
    m.ensure()
    return m


def pending(client: Any, priest: int) -> int:
    return int(client.xpending(KEYS.inbox(priest), PRIEST_GROUP)["pending"])


# ------------------------------------------------------------------ the group

def test_ensure_creates_the_group_once(client: Any) -> None:
    m = Messenger(client, KEYS, P1, "b0b")
    assert m.ensure() is True
    assert m.ensure() is False
    groups = client.xinfo_groups(KEYS.inbox(P1))
    assert [g["name"] for g in groups] == [PRIEST_GROUP.encode()]


# ------------------------------------------------------------------ sending and receiving

def test_flush_delivers_to_other_inboxes_publishes_extra_and_acks(client: Any) -> None:
    m0, m1, m2 = (messenger(client, p) for p in (P0, P1, P2))
    m0.flush([(P1, {b"code": b"1", b"to": b"one"}), (P2, {b"code": b"1", b"to": b"two"})], [],
             extra=[(KEYS.replies("feed"), {b"n": b"1"}), (KEYS.replies("c1"), {b"ok": b"1"})])
    (id1, f1), = m1.receive(10, 0)
    (_, f2), = m2.receive(10, 0)
    assert (f1[b"to"], f2[b"to"]) == (b"one", b"two")
    assert m0.receive(10, 0) == []
    assert [f for _, f in client.xrange(KEYS.replies("feed"))] == [{b"n": b"1"}]
    assert [f for _, f in client.xrange(KEYS.replies("c1"))] == [{b"ok": b"1"}]
    assert pending(client, P1) == 1
    assert m1.flush([(P0, {b"code": b"2"})], [id1]) == 1
    assert pending(client, P1) == 0 and pending(client, P2) == 1
    assert [f for _, f in m0.receive(10, 0)] == [{b"code": b"2"}]
    assert m2.flush([], []) == 0


def test_receive_honours_count_and_block(client: Any) -> None:
    m0, m1 = messenger(client, P0), messenger(client, P1)
    m0.flush([(P1, {b"i": str(i).encode()}) for i in range(5)], [])
    batches = [[f[b"i"] for _, f in m1.receive(2, 100)] for _ in range(3)]
    assert batches == [[b"0", b"1"], [b"2", b"3"], [b"4"]]
    started = time.monotonic()
    assert m1.receive(2, 300) == []
    assert time.monotonic() - started >= 0.25


def test_a_blocked_receive_wakes_when_a_message_arrives(client: Any) -> None:
    m1 = messenger(client, P1)
    sender = Messenger(client, KEYS, P0, "a11ce")
    timer = threading.Timer(0.2, lambda: sender.flush([(P1, {b"code": b"1"})], []))
    timer.start()
    started = time.monotonic()
    try:
        got = m1.receive(10, 3000)
    finally:
        timer.join()
    assert [f for _, f in got] == [{b"code": b"1"}]
    assert time.monotonic() - started < 2.5


def test_content_is_returned_as_is_whatever_it_is(client: Any) -> None:
    m1 = messenger(client, P1)
    client.xadd(KEYS.inbox(P1), {b"\xff\x00": b"\x80", b"code": b"not a number"})
    (_, fields), = m1.receive(10, 0)
    assert fields == {b"\xff\x00": b"\x80", b"code": b"not a number"}


def test_trimming_keeps_every_stream_near_maxlen(client: Any) -> None:
    maxlen = 50
    m0 = messenger(client, P0, maxlen=maxlen)
    for batch in range(20):
        m0.flush([(P1, {b"b": str(batch).encode()})] * 50, [],
                 extra=[(KEYS.replies("feed"), {b"n": b"x"})] * 50)
    # Approximate trimming removes whole radix-tree nodes (100 entries by default).
    for key in (KEYS.inbox(P1), KEYS.replies("feed")):
        assert maxlen <= client.xlen(key) <= maxlen + 100, key


@pytest.mark.redis
def test_an_inbox_is_trimmed_below_what_its_priest_acked(redis_server: RedisServer) -> None:
    """Acked inbox entries are never read again: the owner trims them (MINID ~), so an
    inbox stays short even when every entry carries a batch of decrees."""
    real = connect(redis_server.url)
    sender, owner = messenger(real, P0), messenger(real, P1)
    sender.flush([(P1, {b"i": str(i).encode()}) for i in range(1000)], [])
    got = owner.receive(600, 0)
    assert owner.flush([], [entry_id for entry_id, _ in got]) == 600
    assert real.xlen(KEYS.inbox(P1)) <= 400 + 100        # whole radix nodes below the mark
    rest = owner.receive(1000, 0)
    assert [f[b"i"] for _, f in rest] == [str(i).encode() for i in range(600, 1000)]
    owner.flush([], [entry_id for entry_id, _ in rest])
    assert real.xlen(KEYS.inbox(P1)) <= 100 and pending(real, P1) == 0
    real.close()


@pytest.mark.redis
def test_refuses_a_block_longer_than_the_socket_timeout(redis_server: RedisServer) -> None:
    m = messenger(connect(redis_server.url, socket_timeout=1.5), 1)
    with pytest.raises(ValueError, match="block_ms=2000 would outlast the client's socket"):
        m.receive(1, 2000)
    assert m.receive(1, 400) == []


# ------------------------------------------------------------------ Redis restarting empty

def test_lost_group_is_recreated_after_flushall(client: Any, caplog: Any) -> None:
    m0, m1 = messenger(client, P0), messenger(client, P1)
    client.flushall()
    with caplog.at_level(logging.WARNING, logger="paxos_redis.messengers.streams"):
        assert m1.receive(10, 0) == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "recreating" in warnings[0].getMessage()
    m0.flush([(P1, {b"code": b"1"})], [])
    assert [f for _, f in m1.receive(10, 0)] == [{b"code": b"1"}]


def test_messages_sent_before_the_group_is_recreated_are_still_read(client: Any) -> None:
    m0, m1 = messenger(client, P0), messenger(client, P1)
    client.flushall()
    m0.flush([(P1, {b"code": b"early"})], [])          # XADD recreates the stream, no group
    assert m1.receive(10, 0) == []                    # NOGROUP: group recreated from id 0
    assert [f for _, f in m1.receive(10, 0)] == [{b"code": b"early"}]


@pytest.mark.redis
def test_lost_group_during_a_blocked_read_is_recreated(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    m1 = messenger(client, P1)
    flusher = threading.Timer(0.2, redis_server.client().flushall)
    flusher.start()
    try:
        assert m1.receive(10, 2000) == []
    finally:
        flusher.join()
    assert [g["name"] for g in client.xinfo_groups(KEYS.inbox(P1))] == [PRIEST_GROUP.encode()]


@pytest.mark.redis
def test_kill_and_restart_then_reading_recovers(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    m0, m1 = messenger(client, P0), messenger(client, P1)
    redis_server.kill()
    with pytest.raises(RedisConnectionError):
        m1.receive(10, 0)
    redis_server.restart()
    assert m1.receive(10, 100) == []
    m0.flush([(P1, {b"code": b"after"})], [])
    assert [f for _, f in m1.receive(10, 100)] == [{b"code": b"after"}]


# ------------------------------------------------------------------ reclaim and dead letters

def test_reclaim_takes_over_what_a_dead_consumer_left_pending(client: Any) -> None:
    sender = messenger(client, P0)
    dead = messenger(client, P1, consumer="b0b-old")
    sender.flush([(P1, {b"i": str(i).encode()}) for i in range(4)], [])
    assert len(dead.receive(10, 0)) == 4               # read, never acked: then kill -9
    heir = messenger(client, P1, consumer="b0b-new")
    assert heir.reclaim(min_idle_ms=60_000, count=10) == []   # not idle long enough
    time.sleep(0.05)
    first = heir.reclaim(min_idle_ms=20, count=3)
    rest = heir.reclaim(min_idle_ms=20, count=10)
    assert [f[b"i"] for _, f in first + rest] == [b"0", b"1", b"2", b"3"]
    summary = client.xpending(KEYS.inbox(P1), PRIEST_GROUP)
    assert [(c["name"], c["pending"]) for c in summary["consumers"]] == [(b"b0b-new", 4)]
    heir.flush([], [entry_id for entry_id, _ in first + rest])
    assert pending(client, P1) == 0


def test_reclaim_drops_pending_entries_that_were_trimmed(client: Any) -> None:
    sender = messenger(client, P0)
    dead = messenger(client, P1, consumer="b0b-old")
    sender.flush([(P1, {b"i": b"0"}), (P1, {b"i": b"1"})], [])
    (gone, _), _ = dead.receive(10, 0)
    client.xdel(KEYS.inbox(P1), gone)
    heir = messenger(client, P1, consumer="b0b-new")
    assert [f for _, f in heir.reclaim(0, 10)] == [{b"i": b"1"}]
    assert pending(client, P1) == 1


def test_a_read_stream_is_trimmed_below_its_oldest_pending_entry(client: Any) -> None:
    petitions = KEYS.petitions()
    m = messenger(client, P0)
    m.trim_answered(petitions)                          # no stream, no group: nothing to do
    m.ensure_stream(petitions)
    ids = [client.xadd(petitions, {b"i": str(i).encode()}) for i in range(6)]
    got = m.receive_with([petitions], 4, 0)[petitions]  # read 0..3; 4 and 5 not yet
    m.flush([], [], other_acks={petitions: [ids[0], ids[1], ids[3]]})   # 2 still pending
    m.trim_answered(petitions)
    assert [e for e, _ in client.xrange(petitions)] == ids[2:] and len(got) == 4
    m.flush([], [], other_acks={petitions: [ids[2]]})    # nothing pending: below the last read
    m.trim_answered(petitions)
    assert [e for e, _ in client.xrange(petitions)] == ids[3:]
    assert [f[b"i"] for _, f in m.receive_with([petitions], 10, 0)[petitions]] == [b"4", b"5"]


def test_reclaim_after_the_group_vanished_recreates_it(client: Any) -> None:
    m1 = messenger(client, P1)
    client.flushall()
    assert m1.reclaim(0, 10) == []
    assert m1.ensure() is False


def test_dead_letter_moves_counts_and_acks(client: Any) -> None:
    m1 = messenger(client, P1)
    client.xadd(KEYS.inbox(P1), {b"code": b"9", b"reason": b"forged"})
    (entry_id, fields), = m1.receive(1, 0)
    m1.dead_letter(entry_id, fields, "unknown code 9")
    (_, record), = client.xrange(KEYS.deadletter())
    assert record == {b"code": b"9", b"reason": b"unknown code 9", b"priest": b"000000000b0b",
                      b"entry": entry_id}
    assert client.hget(KEYS.stats(), STAT_DEADLETTER) == b"1"
    assert pending(client, P1) == 0
    m1.dead_letter(b"0-1", ["not", "a", "dict"], "garbage")
    m1.dead_letter(b"0-2", {1: None, "k": 2.5}, "odd types")
    assert client.hget(KEYS.stats(), STAT_DEADLETTER) == b"3"
    assert client.xlen(KEYS.deadletter()) == 3


# ------------------------------------------------------------------ connection.py

def test_redact_hides_only_the_password() -> None:
    assert redact("redis://alice:s3cret@db:6380/2") == "redis://alice:***@db:6380/2"
    assert redact("rediss://:s3cret@[::1]:6380") == "rediss://:***@[::1]:6380"
    assert redact("unix://:s3cret@/run/redis.sock?db=1") == "unix://:***@/run/redis.sock?db=1"
    assert redact("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_connect_refuses_other_schemes_without_leaking_the_password() -> None:
    with pytest.raises(ValueError, match=r"unsupported Redis URL 'http://:\*\*\*@h'") as info:
        connect("http://:s3cret@h")
    assert "s3cret" not in str(info.value)


def needs_redis_server() -> None:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not on PATH: install Redis 7 to run real-server tests")


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of our own that wants a password."""
    needs_redis_server()
    server = RedisServer(tmp_path / "guarded", password="s3cret").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.redis
def test_connect_with_password_and_timeouts(guarded: RedisServer) -> None:
    assert guarded.url.startswith("redis://:s3cret@")
    client = connect(guarded.url)
    check(client, guarded.url)
    assert client.ping() is True
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (5.0, 2.0)
    assert redact(guarded.url) == f"redis://:***@127.0.0.1:{guarded.port}/0"


@pytest.mark.redis
@pytest.mark.parametrize("auth", [":wrong@", ""])
def test_wrong_or_missing_password_is_a_clear_authentication_error(
    guarded: RedisServer, auth: str
) -> None:
    url = f"redis://{auth}127.0.0.1:{guarded.port}/0"
    with pytest.raises(AuthenticationError, match="refused the credentials") as info:
        check(connect(url), url)
    assert "wrong" not in str(info.value) and "password in the URL" in str(info.value)


@pytest.mark.redis
def test_connect_over_a_unix_socket() -> None:
    needs_redis_server()
    with tempfile.TemporaryDirectory(prefix="pxr-", dir="/tmp") as short:  # socket paths are short
        sock = Path(short) / "r.sock"
        with RedisServer(short, password="pw", args=("--unixsocket", str(sock))):
            client = connect(f"unix://:pw@{sock}?db=0")
            assert client.ping() is True
            client.close()


