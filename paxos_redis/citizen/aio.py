"""The citizens' API on asyncio (``redis.asyncio``): :class:`AsyncClient`.

Same protocol and semantics as :class:`paxos_redis.citizen.client.Client`; built for
keeping thousands of petitions in flight from one process.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from paxos_redis.citizen.client import (
    GATHER,
    MAXLEN,
    READ_BLOCK_MS,
    READ_COUNT,
    SYNC_PREFIX,
    LawReader,
    check_options,
    check_timeout,
    encode_body,
    hint,
    live_priests,
    new_citizen_id,
    parse_reply,
    petition_id,
)
from paxos_redis.errors import ParliamentUnavailable, PetitionRefused, PetitionTimeout
from paxos_redis.messengers.citizens import LawAnswer, Reply, Tally, petition_fields
from paxos_redis.messengers.conduit import AsyncConduit
from paxos_redis.messengers.connection import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HEALTH_CHECK_INTERVAL,
    DEFAULT_SOCKET_TIMEOUT,
    TRANSIENT,
    redact,
)
from paxos_redis.messengers.heartbeat import read_roster_async
from paxos_redis.messengers.keys import Keys
from paxos_redis.messengers.streams import _entries, _fields, _flat, _max_block_ms
from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.effects import Receipt

log = logging.getLogger(__name__)
#: Most XADDs in one pipelined round trip of the send batcher.
SEND_BATCH = 1_000
#: How often the sweeper looks for petitions to re-send or to end (at most ``retry``).
SWEEP_S = 0.05


class _Expired(Exception):
    """A petition's deadline passed (the sweeper's word to the waiting petition)."""


@dataclass(slots=True)
class _Waiting:
    """A petition waiting for its reply: what to re-send, when, and until when."""

    decree: Decree
    resend: float
    deadline: float


class AsyncClient:
    """A citizen of the Parliament on asyncio, over a ``redis.asyncio.Redis`` (bytes replies).

    One background task per client reads the citizen's reply stream (XREAD BLOCK)
    while anything is awaited, and resolves the waiting petitions' futures by pid
    and the law queries' queues by request id.  Sends are batched: every XADD
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
        check_options(max_decree_bytes, retry)
        self.redis = redis
        self.keys = Keys(parliament)
        self.citizen_id = citizen_id if citizen_id is not None else new_citizen_id()
        self.reply_stream = self.keys.replies(self.citizen_id)
        self.max_decree_bytes, self.retry = max_decree_bytes, retry
        self._own_id, self._owns_redis, self._closed = citizen_id is None, False, False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_id: Any = b"0-0"
        self._futures: dict[str, list[asyncio.Future[Reply]]] = {}
        self._tally = Tally()                  # receipts of votes for awaited pids
        self._queues: dict[str, asyncio.Queue[LawAnswer]] = {}
        self._reader: asyncio.Task[None] | None = None
        #: (stream, fields or a petition's decree, the future told of errors)
        self._outbox: list[tuple[str, Mapping[bytes, bytes] | Decree, asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._waiting: dict[asyncio.Future[Any], _Waiting] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._redis_error: Exception | None = None
        self._hint_task: asyncio.Task[str] | None = None
        self._hint_at = 0.0
        cap = _max_block_ms(redis)              # a BLOCK must end before the socket times out
        self._block_ms = READ_BLOCK_MS if cap is None else max(10, min(READ_BLOCK_MS, cap))
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
        return await self._petition(Decree(petition_id(pid), body), self._time() + timeout,
                                    timeout)

    async def petition_many(self, decrees: Iterable[bytes | str],
                            timeout: float = 10.0) -> list[int]:
        """Pass several decrees, all in flight at once; numbers in the same order."""
        bodies = [encode_body(d, self.max_decree_bytes) for d in decrees]
        check_timeout(timeout)
        deadline = self._time() + timeout
        results = await asyncio.gather(
            *(self._petition(Decree(petition_id(None), b), deadline, timeout) for b in bodies),
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
        return await self._petition(Decree(SYNC_PREFIX + uuid.uuid4().hex, b""),
                                    self._time() + timeout, timeout)

    async def _petition(self, decree: Decree, deadline: float, timeout: float) -> int:
        """Send once, then wait on one future: the sweeper re-sends it every ``retry`` s
        and ends it at ``deadline`` (no timer or task per petition)."""
        loop = self._bind()
        pid = decree.petition
        fut: asyncio.Future[Reply] = loop.create_future()
        self._futures.setdefault(pid, []).append(fut)
        self._ensure_reader()
        self._waiting[fut] = _Waiting(decree, self._time() + self.retry, deadline)
        self._post(self.keys.petitions(), decree, fut)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep(), name="paxos-citizen-retry")
        try:
            reply = await fut
        except _Expired:
            raise await self._timeout(pid, timeout) from None
        finally:
            self._waiting.pop(fut, None)
            waiting = self._futures.get(pid, [])
            if fut in waiting:
                waiting.remove(fut)
            if not waiting:
                self._futures.pop(pid, None)
                self._tally.forget(pid)
        if reply.n is None:
            raise PetitionRefused(pid, reply.error or "no reason given")
        return reply.n

    async def _sweep(self) -> None:
        """While petitions wait: re-send those unanswered for ``retry`` s, end those past
        their deadline."""
        while self._waiting:
            await asyncio.sleep(min(SWEEP_S, self.retry))
            now = self._time()
            for fut, waiting in list(self._waiting.items()):
                if fut.done():
                    continue
                if now >= waiting.deadline:
                    fut.set_exception(_Expired())
                elif now >= waiting.resend:
                    waiting.resend = now + self.retry
                    self._post(self.keys.petitions(), waiting.decree, fut)

    async def _timeout(self, pid: str, timeout: float) -> Exception:
        if self._redis_error is not None:
            return ParliamentUnavailable(
                f"Redis was unreachable while petition {pid!r} waited ({self._redis_error}); "
                f"it may or may not have been sent: retry with the same pid={pid!r} once "
                "Redis is back")
        return PetitionTimeout(pid, timeout, await self._hint())

    # ------------------------------------------------------------- the law

    async def law(self, start: int = 0, stop: int | None = None, *,
                  linearizable: bool = False, timeout: float = 10.0) -> list[tuple[int, bytes]]:
        """Passed decrees ``start <= n < stop`` as ``[(n, body)]`` (see ``Client.law``)."""
        check_timeout(timeout)
        reader = LawReader(start, stop, None)
        deadline = self._time() + timeout
        if linearizable:
            reader.barrier = await self.sync(timeout)
        pause = 0.01
        while not reader.done:
            if self._time() >= deadline:
                raise ParliamentUnavailable(
                    f"no priest answered with {reader.describe()} within {timeout:g} s. "
                    f"{await self._hint()}")
            if not reader.take(await self._ask(reader, deadline)) and not reader.done:
                await asyncio.sleep(min(pause, max(0.0, deadline - self._time())))
                pause = min(pause * 2, 0.2)
            else:
                pause = 0.01
        return reader.law

    async def _ask(self, reader: LawReader, deadline: float) -> list[LawAnswer]:
        self._bind()
        priests = live_priests(self.keys, await read_roster_async(self.redis, self.keys))
        req = uuid.uuid4().hex
        query = reader.query(req, self.citizen_id).fields()
        queue: asyncio.Queue[LawAnswer] = asyncio.Queue()
        self._queues[req] = queue
        self._ensure_reader()
        answers: list[LawAnswer] = []
        try:
            while not answers and self._time() < deadline:
                await self._send([(self.keys.inbox(priest), query) for priest in priests])
                wait = min(self.retry, deadline - self._time())
                try:
                    answers.append(await asyncio.wait_for(queue.get(), max(0.0, wait)))
                except asyncio.TimeoutError:
                    continue
            gather_until = min(deadline, self._time() + GATHER)
            while answers and len(answers) < len(priests) and self._time() < gather_until:
                try:
                    answers.append(await asyncio.wait_for(queue.get(),
                                                          gather_until - self._time()))
                except asyncio.TimeoutError:
                    break
            while not queue.empty():
                answers.append(queue.get_nowait())
            return answers
        finally:
            self._queues.pop(req, None)

    async def _hint(self) -> str:
        """Why nobody answered, from the heartbeats; one look per second however many ask."""
        if self._hint_task is None or (self._hint_task.done()
                                       and self._time() - self._hint_at > 1.0):
            self._hint_at = self._time()
            self._hint_task = self._bind().create_task(self._look_for_hint())
        return await asyncio.shield(self._hint_task)

    async def _look_for_hint(self) -> str:
        try:
            return hint(self.keys, await read_roster_async(self.redis, self.keys))
        except TRANSIENT:
            return ""

    # ------------------------------------------------------------- sending (batched)

    async def _send(self, entries: list[tuple[str, Mapping[bytes, bytes]]]) -> None:
        """Queue XADDs for the batcher and wait until their pipeline ran."""
        fut: asyncio.Future[Any] = self._bind().create_future()
        for stream, fields in entries:
            self._post(stream, fields, fut)
        await fut

    def _post(self, stream: str, fields: Mapping[bytes, bytes] | Decree,
              fut: asyncio.Future[Any]) -> None:
        """Queue one XADD for the batcher.  ``fut`` gets the batch's error, if there is one
        that retrying will not cure; one the batcher sends with, if nothing else does."""
        self._outbox.append((stream, fields, fut))
        if self._sender is None or self._sender.done():
            self._sender = self._bind().create_task(self._send_loop(), name="paxos-citizen-send")

    async def _send_loop(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox[:SEND_BATCH], self._outbox[SEND_BATCH:]
            petitions = [item for _, item, _ in batch if isinstance(item, Decree)]
            entries = [(stream, item) for stream, item, _ in batch if not isinstance(item, Decree)]
            entries += [(self.keys.petitions(), fields)       # packed: one entry, many petitions
                        for fields in petition_fields(petitions, self.citizen_id)]
            commands = [("XADD", stream, "MAXLEN", "~", MAXLEN, "*", *_flat(fields))
                        for stream, fields in entries]
            error: BaseException | None = None
            try:
                await self._sending.execute(commands)
            except TRANSIENT as exc:       # noted; the petition's retry sends it again
                self._redis_error = exc
                log.warning("could not send %d entries to Redis (%s); retrying", len(batch), exc)
            except Exception as exc:       # noqa: BLE001 - handed to every sender
                error = exc
            for _, _, fut in batch:
                if fut.done():
                    continue
                if error is not None:
                    fut.set_exception(error)
                elif fut not in self._waiting:      # a petition's future waits for its reply
                    fut.set_result(None)

    # ------------------------------------------------------------- the reply stream

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = self._bind().create_task(self._read_loop(), name="paxos-citizen-read")

    async def _read_loop(self) -> None:
        """XREAD the reply stream while anyone waits; resolve futures and queues."""
        while self._futures or self._queues:
            try:
                [reply] = await self._reading.execute([
                    ("XREAD", "COUNT", READ_COUNT, "BLOCK", self._block_ms, "STREAMS",
                     self.reply_stream, self._last_id)])
                self._redis_error = None
            except TRANSIENT as exc:
                self._redis_error = exc
                await asyncio.sleep(0.05)
                continue
            except Exception as exc:   # noqa: BLE001 - a bug or misconfiguration: tell waiters
                log.error("reading the reply stream %s failed: %r", self.reply_stream, exc)
                for futures in self._futures.values():
                    for fut in futures:
                        if not fut.done():
                            fut.set_exception(exc)
                return
            for entry_id, flat in _entries(reply):
                self._last_id = entry_id
                for item in parse_reply(_fields(flat)):
                    self._file(item)

    def _file(self, item: Reply | Receipt | LawAnswer) -> None:
        if isinstance(item, Receipt):
            if item.petition not in self._futures:
                return
            counted = self._tally.add(item)
            if counted is None:
                return
            item = counted
        if isinstance(item, Reply):
            for fut in self._futures.get(item.pid, ()):
                if not fut.done():
                    fut.set_result(item)
        elif isinstance(item, LawAnswer) and item.req in self._queues:
            self._queues[item.req].put_nowait(item)

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
            if self._own_id:
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
