"""The citizens' API, blocking: :class:`Client` petitions the Parliament and reads the law.

A citizen never talks to a priest directly.  It XADDs a petition to the
``petitions`` stream; the acting president proposes it and, once it passed,
XADDs the decree number to the citizen's own ``replies`` stream.  A petition may
be lost (a president killed mid-ballot), so the citizen re-sends the SAME
petition id every ``retry`` seconds; the law passes a petition id once, and a
retried petition is answered with the number of its first passing.

The law is read from the priests: a law query goes to every live priest's inbox and
each live priest answers with the passed decrees of a span (chunked).  Every
priest's law is a prefix of one law, so the answer that reaches furthest wins.
``sync()`` passes an internal no-op whose number is a barrier: a linearizable
read returns at least every decree up to it.

The protocol itself (what to send, filing answers, when a petition is answered or
over) is the sans-I/O :class:`paxos_redis.citizen.session.Session`; this module only
does the blocking I/O for it, as :mod:`paxos_redis.citizen.aio` does on asyncio.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from paxos_redis.citizen.base import Citizen
from paxos_redis.citizen.petitions import check_timeout, encode_body, petition_id, sync_decree
from paxos_redis.citizen.reading import LawReader, Round
from paxos_redis.citizen.session import Command
from paxos_redis.messengers.citizens import LawAnswer
from paxos_redis.messengers.conduit import Conduit
from paxos_redis.messengers.connection import TRANSIENT, connect
from paxos_redis.messengers.heartbeat import read_roster
from paxos_redis.protocol.decree import Decree

log = logging.getLogger(__name__)


class Client(Citizen):
    """A citizen of the Parliament, on a blocking ``redis.Redis`` (bytes replies).

    Thread safety: one ``Client`` may be shared by any number of threads.  All of
    a client's answers arrive on ONE reply stream; at any moment at most one
    waiting thread reads it (XREAD BLOCK, at most 0.5 s) and hands every entry it
    sees to the citizen's sans-I/O :class:`~paxos_redis.citizen.session.Session`,
    which files it for whichever thread asked, under a :class:`threading.Condition`
    that guards the session; then it wakes the others, so no thread ever loses
    another thread's reply.  Petitions and queries are sent on connections of their own.

    ``citizen_id`` names the reply stream; give each live client its own (the
    default is a fresh random id).  ``retry``: seconds between re-sends of an unanswered
    petition.
    """

    def __init__(self, redis: Any, parliament: str, *, citizen_id: str | None = None,
                 max_decree_bytes: int = 1 << 20, retry: float = 1.0) -> None:
        super().__init__(redis, parliament, citizen_id=citizen_id,
                         max_decree_bytes=max_decree_bytes, retry=retry)
        self._cond = threading.Condition()       # guards the session; wakes the waiters
        self._reading = False
        # Petitions and reads on connections of their own, commands packed by hand (see
        # paxos_redis.messengers.conduit): the reader is used by one thread at a time, the sender locked
        self._reader, self._sender = Conduit(redis), Conduit(redis)
        self._send_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, parliament: str = "default", **kw: Any) -> Client:
        """A client on its own connection to ``url`` (closed by :meth:`close`)."""
        client = cls(connect(url, client_name="paxos-citizen"), parliament, **kw)
        client._owns_redis = True
        return client

    # ------------------------------------------------------------- petitions

    def petition(self, decree: bytes | str, timeout: float = 10.0, *,
                 pid: str | None = None) -> int:
        """Pass ``decree``; returns its decree number.  Same ``pid`` again: same number."""
        body = encode_body(decree, self.max_decree_bytes)
        return self._petition([Decree(petition_id(pid), body)], timeout)[0]

    def petition_many(self, decrees: Iterable[bytes | str], timeout: float = 10.0) -> list[int]:
        """Pass several decrees, all in flight at once (pipelined); numbers in the same order."""
        bodies = [encode_body(d, self.max_decree_bytes) for d in decrees]
        return self._petition([Decree(petition_id(None), b) for b in bodies], timeout)

    def sync(self, timeout: float = 10.0) -> int:
        """Pass an internal no-op and return its decree number: a barrier for reads."""
        return self._petition([sync_decree()], timeout)[0]

    def _petition(self, decrees: list[Decree], timeout: float) -> list[int]:
        check_timeout(timeout)
        self._check_open()
        if not decrees:
            return []
        with self._cond:
            call = self._session.open(decrees, time.monotonic(), timeout)
        try:
            while not call.done:
                now = time.monotonic()
                if call.expired(now):
                    raise self._session.unreachable(call) or call.timeout_error(self._hint())
                due = call.due(now)
                if due:
                    self._send(self._session.xadds((), due))
                self._wait(call.ready, call.until)
            return call.result()
        finally:
            with self._cond:
                self._session.close(call)

    # ------------------------------------------------------------- the law

    def law(self, start: int = 0, stop: int | None = None, *, linearizable: bool = False,
            timeout: float = 10.0) -> list[tuple[int, bytes]]:
        """Passed decrees ``start <= n < stop`` as ``[(n, body)]``, petitions only, in order.

        ``linearizable=True`` first passes a :meth:`sync` barrier, so the result holds
        every decree passed before this call began.
        """
        reader = self._session.read_law(start, stop, time.monotonic(), timeout)
        if linearizable:
            reader.barrier = self.sync(timeout)
        while not reader.done:
            if reader.expired(time.monotonic()):
                raise reader.timeout_error(self._hint())
            pause = reader.take(self._ask(reader), time.monotonic())
            if pause:
                time.sleep(pause)            # priests still catching up: ask again soon
        return reader.law

    def _ask(self, reader: LawReader) -> list[LawAnswer]:
        """One round of law queries to the live priests; the answers that came back."""
        self._check_open()
        beats = read_roster(self.redis, self.keys)
        with self._cond:
            round_ = self._session.ask(reader, beats)
        try:
            while (until := self._step(round_)) is not None:
                if round_.send:
                    self._send(self._session.xadds(round_.entries))
                self._wait(round_.ready, until)
            return round_.answers
        finally:
            with self._cond:
                self._session.forget(round_)

    def _step(self, round_: Round) -> float | None:
        with self._cond:
            return round_.wait_until(time.monotonic())

    def _hint(self) -> str:
        try:
            return self._session.hint(read_roster(self.redis, self.keys))
        except TRANSIENT:
            return ""

    # ------------------------------------------------------------- the reply stream

    def _send(self, commands: list[Command]) -> None:
        """XADD in one pipelined round trip; an unreachable Redis is noted, not raised."""
        try:
            with self._send_lock:
                self._sender.execute(commands)
        except TRANSIENT as exc:
            self._session.redis_error = exc
            log.warning("could not send %d entries to Redis (%s); retrying", len(commands), exc)

    def _wait(self, ready: Callable[[], bool], until: float) -> None:
        """Until ``ready()`` (evaluated under the lock) or ``until``, reading the reply
        stream when no other thread does."""
        while True:
            with self._cond:
                while True:
                    if ready():
                        return
                    now = time.monotonic()
                    if now >= until:
                        return
                    if not self._reading:
                        self._reading = True
                        block = self._session.block(until - now)
                        break
                    self._cond.wait(until - now)
            self._read(block)

    def _read(self, block_ms: int) -> None:
        """One XREAD of the reply stream (only the thread holding ``_reading``)."""
        reply: Any = None
        try:
            [reply] = self._reader.execute([self._session.xread(block_ms)])
            self._session.redis_error = None
        except TRANSIENT as exc:
            self._session.redis_error = exc
            time.sleep(min(0.05, block_ms / 1000))
        finally:
            with self._cond:
                self._reading = False
                if reply:
                    self._session.receive(reply)
                self._cond.notify_all()

    # ------------------------------------------------------------- lifecycle

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this paxos_redis Client is closed; create a new one")

    def close(self) -> None:
        """Forget the reply stream (if its id was ours) and close a connection we opened."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._session.own_id:
                self.redis.delete(self.reply_stream)
        except TRANSIENT:
            pass
        finally:
            self._reader.close()
            self._sender.close()
            if self._owns_redis:
                self.redis.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
