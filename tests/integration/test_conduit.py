"""The priest's hot-path connection: packed batches, raw replies, errors in step, reconnects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis_server import RedisServer

from paxos_redis.messengers.conduit import AsyncConduit, Conduit, pack, pack_py
from paxos_redis.messengers.connection import connect


@pytest.fixture
def client(fake_or_real_redis: Any) -> Any:
    return fake_or_real_redis


def test_hiredis_and_python_pack_alike() -> None:
    commands = [("XADD", "s", "MAXLEN", "~", 100, "*", b"f", b"v\x00\r\n\xff"),
                ("XACK", "s", "g", b"1-0", b"2-0"), ("SET", "caf\u00e9", ""), ("PING",)]
    assert pack(commands) == pack_py(commands)
    assert pack_py([("SET", "k", b"v")]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"


def test_replies_come_back_in_order_raw(client: Any) -> None:
    conduit = Conduit(client)
    first, second, count = conduit.execute([("XADD", "s", "*", b"a", b"1"),
                                            ("XADD", "s", "*", b"b", b"2"), ("XLEN", "s")])
    assert count == 2 and first < second
    [entries] = conduit.execute([("XRANGE", "s", "-", "+")])
    assert [list(fields) for _, fields in entries] == [[b"a", b"1"], [b"b", b"2"]]


def test_an_error_reply_is_raised_after_the_whole_batch_and_the_connection_stays_in_step(
        client: Any) -> None:
    conduit = Conduit(client)
    with pytest.raises(ResponseError):
        conduit.execute([("SET", "k", b"1"), ("XADD", "k", "*", b"f", b"v"), ("SET", "j", b"2")])
    assert client.get("j") == b"2"                    # the command after the error ran
    assert conduit.execute([("GET", "k"), ("GET", "j")]) == [b"1", b"2"]


def test_queued_commands_go_with_the_next_write_and_their_errors_with_its_replies(
        client: Any) -> None:
    conduit = Conduit(client)
    conduit.queue([("SET", "k", b"1"), ("XADD", "k", "*", b"f", b"v")])   # the XADD fails
    assert client.get("k") is None                    # nothing written yet
    conduit.queue([("SET", "j", b"2")])
    conduit.send([("SET", "i", b"3")])               # one write: all four, in order
    assert [client.get(k) for k in ("k", "j", "i")] == [b"1", b"2", b"3"]
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        conduit.execute([("GET", "i")])
    conduit.queue([("SET", "h", b"4")])
    conduit.push()
    assert client.get("h") == b"4"
    assert conduit.execute([("GET", "h")]) == [b"4"]  # the connection is still in step


@pytest.mark.redis
def test_a_restarted_redis_costs_one_quiet_retry(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    conduit = Conduit(client)
    assert conduit.execute([("PING",)]) == [b"PONG"]
    redis_server.restart()                            # the held connection is now dead
    assert conduit.execute([("PING",)]) == [b"PONG"]
    redis_server.kill()
    with pytest.raises(RedisConnectionError):
        conduit.execute([("PING",)])
    assert conduit.conn is None                       # dropped; the next batch reconnects
    client.close()


def test_a_send_is_answered_with_the_next_batch(client: Any) -> None:
    conduit = Conduit(client)
    conduit.send([("XADD", "s", "*", b"a", b"1")])
    assert client.xlen("s") == 1                      # it is in Redis before any wait
    assert conduit.execute([("XLEN", "s")]) == [1]    # only this batch's replies come back
    conduit.send([("SET", "k", b"1"), ("XADD", "k", "*", b"f", b"v")])
    with pytest.raises(ResponseError):                # the sent batch's error surfaces here
        conduit.execute([("GET", "k")])
    assert conduit.execute([("GET", "k")]) == [b"1"]  # and the connection is in step


@pytest.mark.redis
def test_a_send_on_a_dead_connection_goes_again_with_the_next_batch(
        redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    conduit = Conduit(client)
    assert conduit.execute([("PING",)]) == [b"PONG"]
    redis_server.restart()                            # the held connection is now dead
    conduit.send([("XADD", "s", "*", b"a", b"1")])
    assert conduit.execute([("XLEN", "s")]) == [1]    # sent (once or twice) on a fresh one
    client.close()


@pytest.mark.redis
def test_the_async_conduit_answers_in_order_and_retries_a_restarted_redis_once(
        redis_server: RedisServer) -> None:
    async def body() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        conduit = AsyncConduit(client)
        first, count = await conduit.execute([("XADD", "s", "*", b"a", b"1"), ("XLEN", "s")])
        assert count == 1 and first.startswith(b"1")
        with pytest.raises(ResponseError):
            await conduit.execute([("SET", "k", b"1"), ("XADD", "k", "*", b"f", b"v")])
        assert await conduit.execute([("GET", "k")]) == [b"1"]
        redis_server.restart()                        # the held connection is now dead
        assert await conduit.execute([("PING",)]) == [b"PONG"]
        await conduit.close()
        await client.aclose()
    asyncio.run(body())
