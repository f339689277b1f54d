"""The citizens' API on asyncio (``redis.asyncio``): :class:`AsyncClient`.

Same protocol and semantics as the blocking :class:`paxos_redis.citizen.client.Client`:
both drive the citizen's sans-I/O :class:`paxos_redis.citizen.session.Session`, which
holds the protocol (petitions and their retries, filing the priests' answers, reading
the law), and do only the I/O.  Built for keeping thousands of petitions in flight from
one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from paxos_redis.citizen.base import Citizen
from paxos_redis.citizen.petitions import Call, check_timeout, encode_body, petition_id, sync_decree
from paxos_redis.citizen.reading import LawReader, Round
from paxos_redis.errors import PetitionTimeout
from paxos_redis.messengers.citizens import LawAnswer
from paxos_redis.messengers.conduit import AsyncConduit
from paxos_redis.messengers.connection import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HEALTH_CHECK_INTERVAL,
    DEFAULT_SOCKET_TIMEOUT,
    TRANSIENT,
    redact,
)
from paxos_redis.messengers.heartbeat import read_roster_async
from paxos_redis.protocol.decree import Decree

log = logging.getLogger(__name__)
#: Most XADDs in one pipelined round trip of the send batcher.
SEND_BATCH = 1_000
#: How often the sweeper looks for petitions to re-send or to end (at most ``retry``).
SWEEP_S = 0.05


class AsyncClient(Citizen):
    """A citizen of the Parliament on asyncio, over a ``redis.asyncio.Redis`` (bytes replies).

    One background task per client reads the citizen's reply stream (XREAD BLOCK)
    while anything is awaited, feeds it to the citizen's sans-I/O
    :class:`~paxos_redis.citizen.session.Session`, and wakes the petitions and law
    queries it answered.  Sends are batched: every XADD
    queued while a pipeline is in flight goes out in the next one, so thousands of
    concurrent ``petition()`` calls (``asyncio.gather``) cost a few round trips and
    two connections, not thousands.

    Concurrency: safe to share between the tasks of ONE event loop (the loop it is
    first used in).  Not thread-safe and not usable from another loop: create one
    ``AsyncClient`` per loop (the blocking :class:`~paxos_redis.citizen.client.Client` is the
    one to share between threads).
    """

    def __init__(self, redis: Any, parliament: str, *, citizen_id: str | None = None,
                 max_decree_bytes: int = 1 << 20, retry: float = 1.0) -> None:
        super().__init__(redis, parliament, citizen_id=citizen_id,
                         max_decree_bytes=max_decree_bytes, retry=retry)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: what wakes a petition call when it ends, or a round of law queries when answered
        self._wakers: dict[Call | Round, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        #: (stream, fields or a petition's decree, the future told of errors)
        self._outbox: list[tuple[str, Mapping[bytes, bytes] | Decree, asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._hint_task: asyncio.Task[str] | None = None
        self._hint_at = 0.0
        # the sender and the reader tasks each on a connection of their own, commands packed
        # by hand (see paxos_redis.messengers.conduit)
        self._sending, self._reading = AsyncConduit(redis), AsyncConduit(redis)

    @classmethod
    def from_url(cls, url: str, parliament: str = "default", **kw: Any) -> AsyncClient:
        """A client on its own ``redis.asyncio`` pool for ``url`` (closed by :meth:`close`)."""
        if "://" not in url or url.split("://", 1)[0].lower() not in ("redis", "rediss", "unix"):
            raise ValueError(f"unsupported Redis URL {redact(url)!r}: expected redis://"
                             "[user:password@]host[:port][/db], rediss://... or unix:///path")
        redis = aioredis.Redis.from_url(
            url, decode_responses=False, protocol=2, socket_timeout=DEFAULT_SOCKET_TIMEOUT,
            socket_connect_timeout=DEFAULT_CONNECT_TIMEOUT,
            health_check_interval=DEFAULT_HEALTH_CHECK_INTERVAL,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3), client_name="paxos-citizen")
        client = cls(redis, parliament, **kw)
        client._owns_redis = True
        return client

    # ------------------------------------------------------------- petitions

    async def petition(self, decree: bytes | str, timeout: float = 10.0, *,
                       pid: str | None = None) -> int:
        """Pass ``decree``; returns its decree number.  Same ``pid`` again: same number."""
        body = encode_body(decree, self.max_decree_bytes)
        check_timeout(timeout)
        return await self._petition(Decree(petition_id(pid), body), self._time(), timeout)

    async def petition_many(self, decrees: Iterable[bytes | str],
                            timeout: float = 10.0) -> list[int]:
        """Pass several decrees, all in flight at once; numbers in the same order."""
        bodies = [encode_body(d, self.max_decree_bytes) for d in decrees]
        check_timeout(timeout)
        now = self._time()
        results = await asyncio.gather(
            *(self._petition(Decree(petition_id(None), b), now, timeout) for b in bodies),
            return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        late = [p for r in failed if isinstance(r, PetitionTimeout) for p in r.pids]
        if late and len(late) == len(failed):
            raise PetitionTimeout(late, timeout, await self._hint())
        if failed:
            raise failed[0]
        return [int(r) for r in results]   # type: ignore[arg-type]

    async def sync(self, timeout: float = 10.0) -> int:
        """Pass an internal no-op and return its decree number: a barrier for reads."""
        check_timeout(timeout)
        return await self._petition(sync_decree(), self._time(), timeout)

    async def _petition(self, decree: Decree, now: float, timeout: float) -> int:
        """Send once, then wait on one future: the sweeper re-sends the petition every
        ``retry`` s and ends the wait at the deadline (no timer or task per petition)."""
        loop = self._bind()
        call = self._session.open([decree], now, timeout)
        try:
            if not call.done:
                self._wakers[call] = fut = loop.create_future()
                self._ensure_reader()
                for due in call.due(now):
                    self._post(self._session.petitions_stream, due, fut)
                if self._sweeper is None or self._sweeper.done():
                    self._sweeper = loop.create_task(self._sweep(), name="paxos-citizen-retry")
                await fut
        finally:
            self._wakers.pop(call, None)
            self._session.close(call)
        if not call.done:
            raise self._session.unreachable(call) or call.timeout_error(await self._hint())
        return call.result()[0]

    async def _sweep(self) -> None:
        """While petitions wait: re-send those unanswered for ``retry`` s, end those past
        their deadline."""
        session = self._session
        while session.petitioning:
            await asyncio.sleep(min(SWEEP_S, self.retry))
            now = self._time()
            for call in session.sweep(now):
                fut = self._wakers.get(call)
                if fut is None or fut.done():
                    continue
                if call.expired(now):
                    fut.set_result(None)             # _petition raises the timeout
                    continue
                for due in call.due(now):
                    self._post(session.petitions_stream, due, fut)

    # ------------------------------------------------------------- the law

    async def law(self, start: int = 0, stop: int | None = None, *,
                  linearizable: bool = False, timeout: float = 10.0) -> list[tuple[int, bytes]]:
        """Passed decrees ``start <= n < stop`` as ``[(n, body)]`` (see ``Client.law``)."""
        reader = self._session.read_law(start, stop, self._time(), timeout)
        if linearizable:
            reader.barrier = await self.sync(timeout)
        while not reader.done:
            if reader.expired(self._time()):
                raise reader.timeout_error(await self._hint())
            pause = reader.take(await self._ask(reader), self._time())
            if pause:
                await asyncio.sleep(pause)
        return reader.law

    async def _ask(self, reader: LawReader) -> list[LawAnswer]:
        loop = self._bind()
        round_ = self._session.ask(reader, await read_roster_async(self.redis, self.keys))
        self._ensure_reader()
        try:
            while (until := round_.wait_until(self._time())) is not None:
                if round_.send:
                    await self._send(round_.entries)
                if not round_.ready():
                    self._wakers[round_] = fut = loop.create_future()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(fut, max(0.0, until - self._time()))
            return round_.answers
        finally:
            self._wakers.pop(round_, None)
            self._session.forget(round_)

    async def _hint(self) -> str:
        """Why nobody answered, from the heartbeats; one look per second however many ask."""
        if self._hint_task is None or (self._hint_task.done()
                                       and self._time() - self._hint_at > 1.0):
            self._hint_at = self._time()
            self._hint_task = self._bind().create_task(self._look_for_hint())
        return await asyncio.shield(self._hint_task)

    async def _look_for_hint(self) -> str:
        try:
            return self._session.hint(await read_roster_async(self.redis, self.keys))
        except TRANSIENT:
            return ""

    # ------------------------------------------------------------- sending (batched)

    async def _send(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> None:
        """Queue XADDs for the batcher and wait until their pipeline ran."""
        fut: asyncio.Future[Any] = self._bind().create_future()
        for stream, fields in entries:
            self._post(stream, fields, fut)
        await fut

    def _post(self, stream: str, fields: Mapping[bytes, bytes] | Decree,
              fut: asyncio.Future[Any]) -> None:
        """Queue one XADD for the batcher.  ``fut`` gets the batch's error, if there is one
        that retrying will not cure; one the batcher sends with, if nothing else does
        (a petition's future waits for its answer)."""
        self._outbox.append((stream, fields, fut))
        if self._sender is None or self._sender.done():
            self._sender = self._bind().create_task(self._send_loop(), name="paxos-citizen-send")

    async def _send_loop(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox[:SEND_BATCH], self._outbox[SEND_BATCH:]
            petitions = [item for _, item, _ in batch if isinstance(item, Decree)]
            entries = [(stream, item) for stream, item, _ in batch if not isinstance(item, Decree)]
            error: BaseException | None = None
            try:                                    # petitions packed: one entry, many petitions
                await self._sending.execute(self._session.xadds(entries, petitions))
            except TRANSIENT as exc:       # noted; the petition's retry sends it again
                self._session.redis_error = exc
                log.warning("could not send %d entries to Redis (%s); retrying", len(batch), exc)
            except Exception as exc:       # noqa: BLE001 - handed to every sender
                error = exc
            for _, item, fut in batch:
                if fut.done():
                    continue
                if error is not None:
                    fut.set_exception(error)
                elif not isinstance(item, Decree):      # a petition's future waits for its reply
                    fut.set_result(None)

    # ------------------------------------------------------------- the reply stream

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = self._bind().create_task(self._read_loop(), name="paxos-citizen-read")

    async def _read_loop(self) -> None:
        """XREAD the reply stream while anyone waits; wake what the session says it answered."""
        session = self._session
        while session.listening:
            try:
                [reply] = await self._reading.execute([session.xread()])
                session.redis_error = None
            except TRANSIENT as exc:
                session.redis_error = exc
                await asyncio.sleep(0.05)
                continue
            except Exception as exc:   # noqa: BLE001 - a bug or misconfiguration: tell waiters
                log.error("reading the reply stream %s failed: %r", self.reply_stream, exc)
                for waiting, fut in self._wakers.items():
                    if isinstance(waiting, Call) and not fut.done():
                        fut.set_exception(exc)
                return
            for woken in session.receive(reply):
                waker = self._wakers.get(woken)
                if waker is not None and not waker.done():
                    waker.set_result(None)

    # ------------------------------------------------------------- lifecycle

    def _time(self) -> float:
        return asyncio.get_running_loop().time()

    def _bind(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise RuntimeError("this paxos_redis AsyncClient is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an AsyncClient belongs to the event loop it was first used in; "
                               "create one AsyncClient per event loop (or use the thread-safe "
                               "paxos_redis.Client)")
        return loop

    async def close(self) -> None:
        """Stop the reader, forget the reply stream (if its id was ours), close our pool."""
        if self._closed:
            return
        self._closed = True
        for task in (self._reader, self._sender, self._sweeper):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                    pass
        try:
            if self._session.own_id:
                await self.redis.delete(self.reply_stream)
        except TRANSIENT:
            pass
        finally:
            await self._sending.close()
            await self._reading.close()
            if self._owns_redis:
                await self.redis.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
