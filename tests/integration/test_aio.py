"""AsyncClient: the citizens' API on asyncio, on fakeredis and on a real redis-server.

The president is :class:`test_client.PresidentDouble`, the same TEST DOUBLE of the
citizen-side protocol as for the blocking client (a thread on a sync connection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import fakeredis
import pytest
from redis_server import RedisServer
from test_client import KEYS, PresidentDouble, pids_sent

from paxos_redis.citizen.aio import AsyncClient
from paxos_redis.errors import DecreeTooLarge, PetitionRefused, PetitionTimeout
from paxos_redis.messengers.citizens import PetitionEntry
from paxos_redis.messengers.connection import connect
from paxos_redis.protocol.membership import name

T = TypeVar("T")


class Setup:
    """One Redis: a sync connection for the double, and async clients made inside a loop."""

    def __init__(self, sync: Any, make: Callable[..., AsyncClient], real: bool) -> None:
        self.sync, self.make, self.real = sync, make, real
        self.president = PresidentDouble(sync)

    def run(self, body: Callable[[AsyncClient], Awaitable[T]], **kw: Any) -> T:
        async def main() -> T:
            async with self.make(**kw) as client:
                return await body(client)
        return asyncio.run(main())


@pytest.fixture(params=["fakeredis", pytest.param("real", marks=pytest.mark.redis)])
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        sync: Any = fakeredis.FakeRedis(server=server)

        def make(**kw: Any) -> AsyncClient:
            return AsyncClient(fakeredis.FakeAsyncRedis(server=server), "senate",
                               **{"retry": 0.2, **kw})
    else:
        real: RedisServer = request.getfixturevalue("redis_server")
        sync = connect(real.url)

        def make(**kw: Any) -> AsyncClient:
            return AsyncClient.from_url(real.url, "senate", **{"retry": 0.2, **kw})
    s = Setup(sync, make, real=request.param == "real")
    yield s
    s.president.stop()
    sync.close()


def test_two_thousand_concurrent_petitions(setup: Setup) -> None:
    setup.president.start()
    bodies = [f"decree {i}".encode() for i in range(2000)]
    connections: list[int] = []

    async def body(client: AsyncClient) -> list[int]:
        async def watch() -> None:       # how many connections the citizen opened
            while True:
                if setup.real:
                    connections.append(sum(1 for c in setup.sync.client_list()
                                           if c["name"] == "paxos-citizen"))
                await asyncio.sleep(0.05)
        watcher = asyncio.create_task(watch())
        try:
            return list(await asyncio.gather(*(client.petition(b) for b in bodies)))
        finally:
            watcher.cancel()

    started = time.monotonic()
    numbers = setup.run(body, retry=5.0)
    assert time.monotonic() - started < 15
    assert len(set(numbers)) == 2000
    passed = dict(setup.president.passed())
    assert [passed[n] for n in numbers] == bodies
    assert max(connections, default=0) <= 4      # batched sends + one reader, not 2,000


def test_petition_many_and_law_in_order(setup: Setup) -> None:
    setup.president.chunk = 7
    setup.president.lag = {setup.president.priests[0]: 5}      # the president lags
    setup.president.start()

    async def body(client: AsyncClient) -> tuple[list[int], list[tuple[int, bytes]]]:
        numbers = await client.petition_many([b"a", "b", b"c"] * 20)
        return numbers, await client.law()

    numbers, law = setup.run(body)
    assert law == setup.president.passed()
    assert [b for _, b in law] == [b"a", b"b", b"c"] * 20
    assert [n for n, _ in law] == numbers


def test_retries_lost_petitions_and_same_pid(setup: Setup) -> None:
    setup.president.drop_first.add("p-lost")
    setup.president.start()

    async def body(client: AsyncClient) -> tuple[int, int, int]:
        lost = await client.petition(b"lost once", pid="p-lost")
        again = await client.petition(b"lost once", pid="p-lost")
        other = await client.petition(b"other")
        return lost, again, other

    lost, again, other = setup.run(body)
    assert lost == again == setup.president.first["p-lost"] != other
    assert setup.president.dropped == ["p-lost"]
    assert pids_sent(setup.sync).count("p-lost") >= 3


def test_receipts_from_a_majority_answer_and_a_minority_does_not(setup: Setup) -> None:
    setup.president.receipts, setup.president.reply = 2, False    # 2 of 3 members
    setup.president.start()

    async def body(client: AsyncClient) -> tuple[list[int], str]:
        numbers = list(await asyncio.gather(*(client.petition(b"x") for _ in range(20))))
        setup.president.receipts = 1
        try:
            await client.petition(b"minority", timeout=0.5)
        except PetitionTimeout as exc:
            return numbers, type(exc).__name__
        return numbers, "answered"

    numbers, minority = setup.run(body)
    assert sorted(numbers) == sorted(setup.president.first.values())[:20]
    assert minority == "PetitionTimeout"


def test_timeout_refusal_and_oversize(setup: Setup) -> None:
    setup.president.refuse["p-bad"] = "not a decree we pass"
    setup.president.start()
    setup.president.silent = True                # after start: config and heartbeats exist

    async def body(client: AsyncClient) -> None:
        started = asyncio.get_running_loop().time()
        with pytest.raises(PetitionTimeout) as caught:
            await client.petition(b"nobody", timeout=0.4, pid="p-slow")
        assert asyncio.get_running_loop().time() - started >= 0.4
        assert caught.value.pid == "p-slow" and "0.4 s" in str(caught.value)
        assert f"{name(setup.president.priests[0])} presides" in str(caught.value)
        with pytest.raises(PetitionTimeout) as many:
            await client.petition_many([b"x", b"y"], timeout=0.3)
        assert len(many.value.pids) == 2 and "(and 1 more)" in str(many.value)
        with pytest.raises(DecreeTooLarge):
            await client.petition_many([b"ok", b"x" * 11])
        setup.president.silent = False
        with pytest.raises(PetitionRefused, match="not a decree we pass"):
            await client.petition(b"?", pid="p-bad")

    setup.run(body, max_decree_bytes=10)
    sent = {p.decree.body for _, f in setup.sync.xrange(KEYS.petitions())
            for p in PetitionEntry.parse_many(f)}
    assert sent == {b"nobody", b"x", b"y", b"?"}    # nothing of the oversize batch


def test_linearizable_law_waits_for_the_barrier(setup: Setup) -> None:
    setup.president.start()

    async def body(client: AsyncClient) -> None:
        numbers = await client.petition_many([b"a", b"b", b"c"])
        setup.president.lag = dict.fromkeys(setup.president.priests, 3)
        assert await client.law() == [(numbers[0], b"a")]
        asyncio.get_running_loop().call_later(0.3, setup.president.lag.clear)
        fresh = await client.law(linearizable=True)
        assert fresh == list(zip(numbers, [b"a", b"b", b"c"], strict=True))
        assert await client.sync() > numbers[-1]

    setup.run(body)


def test_an_async_client_is_bound_to_one_loop(setup: Setup) -> None:
    setup.president.start()
    client = setup.make()

    async def first() -> int:
        n = await client.petition(b"first loop")
        await client.redis.connection_pool.disconnect()   # its connections die with this loop
        return n
    assert asyncio.run(first()) == 0

    async def elsewhere() -> None:
        with pytest.raises(RuntimeError, match="one AsyncClient per event loop"):
            await client.petition(b"second loop")
    asyncio.run(elsewhere())


def test_junk_on_the_reply_stream_is_ignored(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    setup.president.start()

    async def body(client: AsyncClient) -> tuple[int, int]:
        stream = client.reply_stream
        await client.redis.xadd(stream, {b"passed": b"\x00\x00\x00"})        # cut short
        await client.redis.xadd(stream, {b"passed": b"\x00" * 8 + b"\x00\x00\x00\x05\x09ab"})
        await client.redis.xadd(stream, {b"nonsense": b"1"})
        return await client.petition(b"still works", pid="p-1"), \
            await client.petition(b"again", pid="p-2")

    first, second = setup.run(body)
    assert (first, second) == (setup.president.first["p-1"], setup.president.first["p-2"])
    assert caplog.text.count("ignoring a malformed entry on the reply stream") == 3
    assert "field 'passed': truncated entry header" in caplog.text
