"""The priest's hot path to Redis: one dedicated connection, commands packed by hand.

A priest's loop is one round trip per batch: what it sends, acks and trims after a
batch is queued (:meth:`Conduit.queue`) and written with its next read, in one write,
and their replies are read (and checked) with that read's; the begin ballots it sends
before its fsync are written at once (:meth:`Conduit.send`), and answered likewise.
Through redis-py's ``Redis``/``Pipeline`` each command also pays for the pool checkout, the retry wrapper,
instrumentation and reply callbacks, which profiling showed to be most of a lightly
loaded priest's CPU.  A :class:`Conduit`
keeps one connection of the client's pool for itself (so TLS, AUTH, the client name
and timeouts are exactly the client's), packs a batch of commands into one write and
reads the raw replies (RESP2, bytes) with the connection's parser.

Errors keep redis-py's meaning: an error reply becomes :class:`ResponseError` (raised
after every reply of the batch was read, so the connection stays in step); a broken
connection is dropped and the batch tried once more on a fresh one, then
``ConnectionError``/``TimeoutError`` propagates to the caller's backoff.  Trying a
batch again may deliver its XADDs twice, which the Parliament tolerates, as it does
every duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_pack_command: Callable[[Any], bytes] | None
try:
    from hiredis import pack_command as _pack_command
except ImportError:                                   # pragma: no cover - hiredis is a dependency
    _pack_command = None

Arg = bytes | str | int
Command = Sequence[Arg]


def pack(commands: Sequence[Command]) -> bytes:
    """Commands in the RESP request format, as one buffer (by hiredis, in C, if present)."""
    if _pack_command is not None:
        return b"".join([_pack_command(tuple(args)) for args in commands])
    return pack_py(commands)


def pack_py(commands: Sequence[Command]) -> bytes:
    """:func:`pack` in Python."""
    out: list[bytes] = []
    for args in commands:
        out.append(b"*%d\r\n" % len(args))
        for arg in args:
            raw = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(out)


class Conduit:
    """One connection of ``redis``'s pool, held for a batch-at-a-time caller."""

    def __init__(self, redis: Any) -> None:
        self.pool = redis.connection_pool
        self.conn: Any = None
        #: commands sent by :meth:`send` whose replies are not read yet, and how many of
        #: them were written on the current connection
        self.unread: list[Command] = []
        self.written = 0
        #: connections taken so far (a new one may find a Redis that restarted empty)
        self.connections = 0

    def send(self, commands: Sequence[Command]) -> None:
        """Write ``commands`` (after any :meth:`queue`-d) now without waiting for their
        replies: the next :meth:`execute` reads (and checks) them first, or, if the
        connection broke meanwhile, sends them again with its own."""
        self.unread.extend(commands)
        try:
            conn = self._connection()
            conn.send_packed_command([pack(self.unread[self.written:])])
            self.written = len(self.unread)
        except (RedisConnectionError, RedisTimeoutError):
            self.close()                    # sent again, with the next batch, on a fresh one
        except BaseException:
            self.close()
            raise

    def queue(self, commands: Sequence[Command]) -> None:
        """Keep ``commands`` to be written with the next :meth:`send` or :meth:`execute`
        (one write, and one read for Redis, instead of two)."""
        self.unread.extend(commands)

    def push(self) -> None:
        """Write what :meth:`queue` kept, now (before a pause: compaction, a stop)."""
        if len(self.unread) > self.written:
            self.send(())

    def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write; their replies in order (raises the first error,
        a reply to an earlier :meth:`send` included)."""
        batch, owed = self.unread + list(commands), len(self.unread)
        self.unread = []
        try:
            replies = self._execute(batch, self.written)
        except (RedisConnectionError, RedisTimeoutError):
            self.close()                    # a stale connection (e.g. Redis restarted): once more
            replies = self._execute(batch, 0)
        return replies[owed:]

    def _connection(self) -> Any:
        if self.conn is None:
            self.conn = self.pool.get_connection()
            self.written = 0
            self.connections += 1
        return self.conn

    def _execute(self, commands: Sequence[Command], written: int) -> list[Any]:
        """Write ``commands`` but the first ``written`` (already sent); read every reply."""
        conn = self._connection()
        self.written = 0
        try:
            if len(commands) > written:
                conn.send_packed_command([pack(commands[written:])])
            replies: list[Any] = []
            error: ResponseError | None = None
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
                    error = error or exc
        except BaseException:
            self.close()
            raise
        if error is not None:
            raise error
        return replies

    def close(self) -> None:
        """Give the connection back to the pool, disconnected (the next batch reconnects)."""
        conn, self.conn = self.conn, None
        self.written = 0
        if conn is not None:
            conn.disconnect()
            self.pool.release(conn)


class AsyncConduit:
    """:class:`Conduit` on ``redis.asyncio``: one connection of the pool, used by one task
    at a time (a citizen's sender, or its reader)."""

    def __init__(self, redis: Any) -> None:
        self.pool = redis.connection_pool
        self.conn: Any = None

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write; their replies in order (raises the first error)."""
        try:
            return await self._execute(commands)
        except (RedisConnectionError, RedisTimeoutError):
            await self.close()              # a stale connection (e.g. Redis restarted): once more
            return await self._execute(commands)

    async def _execute(self, commands: Sequence[Command]) -> list[Any]:
        if self.conn is None:
            self.conn = await self.pool.get_connection()
        conn = self.conn
        try:
            await conn.send_packed_command(pack(commands))
            replies: list[Any] = []
            error: ResponseError | None = None
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
                    error = error or exc
        except BaseException:               # cancelled mid-read too: the connection is out of step
            await self.close()
            raise
        if error is not None:
            raise error
        return replies

    async def close(self) -> None:
        """Give the connection back to the pool, disconnected (the next batch reconnects)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.disconnect()
            await self.pool.release(conn)
