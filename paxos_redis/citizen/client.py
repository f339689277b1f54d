"""The citizens' API: petition the Parliament for decrees and read the law.

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

This module holds the blocking :class:`Client` and the pieces it shares with
:class:`paxos_redis.citizen.aio.AsyncClient`.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from paxos_redis.errors import (
    DecreeTooLarge,
    ParliamentUnavailable,
    PetitionRefused,
    PetitionTimeout,
    ProtocolError,
)
from paxos_redis.messengers.citizens import LawAnswer, LawQuery, Reply, Tally, parse_replies, petition_fields
from paxos_redis.messengers.conduit import Conduit
from paxos_redis.messengers.connection import TRANSIENT, connect
from paxos_redis.messengers.heartbeat import Beat, read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.messengers.streams import _entries, _fields, _flat, _max_block_ms
from paxos_redis.protocol.decree import INTERNAL, MAX_PETITION_ID, Decree
from paxos_redis.protocol.effects import Receipt

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Citizens trim the streams they write to about this many entries (as the messenger does).
MAXLEN = 100_000
#: Longest XREAD BLOCK on the reply stream, in ms (less if the socket timeout is short).
READ_BLOCK_MS = 500
READ_COUNT = 1_000
#: After the first law answer, how long to wait for the other priests' answers (s).
GATHER = 0.05
#: ``to`` of a law query with no ``stop``: "as far as you know" (fits the 20-digit wire field).
FAR = 2**63 - 1
SYNC_PREFIX = INTERNAL + "sync:"


# ------------------------------------------------------------------ shared helpers

def new_citizen_id() -> str:
    return f"c-{uuid.uuid4().hex}"


def encode_body(decree: bytes | str, limit: int) -> bytes:
    """The decree body as bytes (``str`` is UTF-8); :class:`DecreeTooLarge` over ``limit``."""
    if isinstance(decree, str):
        body = decree.encode()
    elif isinstance(decree, (bytes, bytearray, memoryview)):
        body = bytes(decree)
    else:
        raise TypeError(f"a decree is bytes or str, got {type(decree).__name__}")
    if len(body) > limit:
        raise DecreeTooLarge(len(body), limit)
    return body


class _FreshIds:
    """Fresh petition ids: a random 128-bit prefix per process and a counter (a uuid4 per
    petition costs a system call).  A forked child (an rq work horse, say) draws its own
    prefix, so parent and child never hand out the same id."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = uuid.uuid4().hex + "-"
        self.counter = itertools.count()

    def __call__(self) -> str:
        return self.prefix + str(next(self.counter))


fresh_id = _FreshIds()


def petition_id(pid: str | None) -> str:
    """``pid`` checked (or a fresh one): citizens may not use the Parliament's own ids."""
    if pid is None:
        return fresh_id()
    if not isinstance(pid, str) or not pid or len(pid.encode()) > MAX_PETITION_ID:
        raise ValueError(f"invalid petition id {pid!r}: use a non-empty str of at most "
                         f"{MAX_PETITION_ID} UTF-8 bytes (or leave pid=None for a fresh one)")
    if pid.startswith(INTERNAL):
        raise ValueError(f"invalid petition id {pid!r}: ids starting with {INTERNAL!r} are "
                         "reserved for the Parliament's own no-ops and never appear in the law")
    return pid


def check_options(max_decree_bytes: int, retry: float) -> None:
    if not isinstance(max_decree_bytes, int) or max_decree_bytes < 1:
        raise ValueError(f"max_decree_bytes must be an int >= 1, got {max_decree_bytes!r}")
    if not retry > 0:
        raise ValueError(f"retry must be > 0 seconds, got {retry!r}")


def check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")


def parse_reply(fields: Mapping[Any, Any]) -> list[Reply] | list[Receipt] | list[LawAnswer]:
    """A reply-stream entry: petitions' :class:`Reply` s, a priest's receipts of its votes,
    or a :class:`LawAnswer` (none: junk)."""
    try:
        if b"req" in fields or "req" in fields:
            return [LawAnswer.parse(fields)]
        return parse_replies(fields)
    except ProtocolError as exc:
        log.warning("ignoring a malformed entry on the reply stream: %s", exc)
        return []


def live_priests(keys: Keys, beats: Mapping[int, Beat]) -> list[int]:
    """The priests to ask for the law: every live one that knows a founding (heartbeats are
    advisory, and every priest's law is a prefix of one law)."""
    live = sorted(p for p, beat in beats.items() if beat.genesis)
    if not live:
        raise ParliamentUnavailable(
            f"no priest of parliament {keys.parliament!r} that knows its founding beats on "
            "this Redis: start the priest workers and a god (or check the Redis URL and "
            "parliament name)")
    return live


def hint(keys: Keys, beats: Mapping[int, Beat]) -> str:
    """What the heartbeats say about why the Parliament did not answer."""
    if not beats:
        return (f"No priest of parliament {keys.parliament!r} has a heartbeat on this Redis: "
                "start the priest workers (or check the Redis URL and parliament name)")
    voters = sorted(b.name for b in beats.values() if b.role == "voter")
    if not voters:
        return (f"{len(beats)} priests are alive but none is a voter: the parliament is not "
                "founded yet (is a god running? paxos-redis god --priests N)")
    presidents = [b.name for b in beats.values() if b.president]
    if not presidents:
        return (f"Voters {', '.join(voters)} are alive but none says it presides: a ballot may "
                "be in progress, or no god is running to start one")
    return (f"Voters {', '.join(voters)} are alive and {presidents[0]} presides; a majority "
            "of the members may be missing or the parliament is overloaded")


class LawReader:
    """Merges chunked law answers into ``[(n, body)]`` from ``start`` (pure; no I/O)."""

    def __init__(self, start: int, stop: int | None, barrier: int | None) -> None:
        if not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be an int >= 0, got {start!r}")
        if stop is not None and (not isinstance(stop, int) or stop < start):
            raise ValueError(f"stop must be None or an int >= start ({start}), got {stop!r}")
        self.pos, self.stop, self.barrier = start, stop, barrier
        self.law: list[tuple[int, bytes]] = []
        self.done = stop is not None and start >= stop

    def query(self, req: str, citizen: str) -> LawQuery:
        return LawQuery(req, citizen, self.pos, FAR if self.stop is None else self.stop)

    def take(self, answers: Sequence[LawAnswer]) -> bool:
        """Merge the furthest-reaching answer; False if it brought nothing new."""
        if not answers:
            return False
        best = max(answers, key=lambda a: a.upto)
        known = max(a.known for a in answers)
        if best.upto > self.pos:
            upto = best.upto if self.stop is None else min(best.upto, self.stop)
            self.law.extend((n, d.body) for n, d in best.entries
                            if self.pos <= n < upto and d.petition
                            and not d.petition.startswith(INTERNAL))
            self.pos = upto
            progressed = True
        else:
            progressed = False
        reached_stop = self.stop is not None and self.pos >= self.stop
        past_barrier = self.barrier is None or self.pos > self.barrier
        self.done = reached_stop or (self.pos >= known and past_barrier)
        return progressed

    def describe(self) -> str:
        span = f"{self.pos}..{'' if self.stop is None else self.stop}"
        barrier = "" if self.barrier is None else f" (the sync barrier is decree {self.barrier})"
        return f"the law from decree {span}{barrier}"


# ------------------------------------------------------------------ the blocking client

class Client:
    """A citizen of the Parliament, on a blocking ``redis.Redis`` (bytes replies).

    Thread safety: one ``Client`` may be shared by any number of threads.  All of
    a client's answers arrive on ONE reply stream; at any moment at most one
    waiting thread reads it (XREAD BLOCK, at most 0.5 s) and files every entry it
    sees, for whichever thread asked, into a shared table under a
    :class:`threading.Condition`, then wakes the others; so no thread ever loses
    another thread's reply.  Petitions and queries are sent on redis-py's
    thread-safe connection pool.

    ``citizen_id`` names the reply stream; give each live client its own (the
    default is a fresh random id).  ``retry``: seconds between re-sends of an unanswered
    petition.
    """

    def __init__(self, redis: Any, parliament: str, *, citizen_id: str | None = None,
                 max_decree_bytes: int = 1 << 20, retry: float = 1.0) -> None:
        check_options(max_decree_bytes, retry)
        self.redis = redis
        self.keys = Keys(parliament)
        self.citizen_id = citizen_id if citizen_id is not None else new_citizen_id()
        self.reply_stream = self.keys.replies(self.citizen_id)   # validates the id
        self.max_decree_bytes, self.retry = max_decree_bytes, retry
        self._own_id, self._owns_redis, self._closed = citizen_id is None, False, False
        self._cond = threading.Condition()
        self._reading = False
        self._last_id: Any = b"0-0"
        self._pids: dict[str, int] = {}          # pid -> how many calls wait for it
        self._replies: dict[str, Reply] = {}     # first reply seen per awaited pid
        self._tally = Tally()                    # receipts of votes for awaited pids
        self._answers: dict[str, list[LawAnswer]] = {}   # awaited law query -> answers
        self._redis_error: Exception | None = None
        cap = _max_block_ms(redis)              # a BLOCK must end before the socket times out
        self._block_ms = READ_BLOCK_MS if cap is None else max(10, min(READ_BLOCK_MS, cap))
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
        return self._petition([Decree(SYNC_PREFIX + uuid.uuid4().hex, b"")], timeout)[0]

    def _petition(self, decrees: list[Decree], timeout: float) -> list[int]:
        check_timeout(timeout)
        self._check_open()
        if not decrees:
            return []
        deadline = time.monotonic() + timeout
        numbers: dict[str, int] = {}
        with self._cond:
            for d in decrees:
                self._pids[d.petition] = self._pids.get(d.petition, 0) + 1
        try:
            waiting = list(decrees)
            next_send = 0.0
            while waiting:
                now = time.monotonic()
                if now >= deadline:
                    raise self._timeout([d.petition for d in waiting], timeout)
                if now >= next_send:
                    self._send([(self.keys.petitions(), fields)
                                for fields in petition_fields(waiting, self.citizen_id)])
                    next_send = now + self.retry
                pids = {d.petition for d in waiting}
                got = self._wait(lambda: self._replies_for(pids), min(deadline, next_send))
                for reply in got or ():
                    if reply.n is None:
                        raise PetitionRefused(reply.pid, reply.error or "no reason given")
                    numbers[reply.pid] = reply.n
                waiting = [d for d in waiting if d.petition not in numbers]
            return [numbers[d.petition] for d in decrees]
        finally:
            with self._cond:
                for d in decrees:
                    left = self._pids.pop(d.petition) - 1
                    if left:
                        self._pids[d.petition] = left
                    else:
                        self._replies.pop(d.petition, None)
                        self._tally.forget(d.petition)

    def _replies_for(self, pids: set[str]) -> list[Reply] | None:
        got = [self._replies[p] for p in pids if p in self._replies]
        return got or None

    def _timeout(self, pids: list[str], timeout: float) -> Exception:
        if self._redis_error is not None:
            return ParliamentUnavailable(
                f"Redis was unreachable while petition {pids[0]!r} waited ({self._redis_error}); "
                f"it may or may not have been sent: retry with the same pid={pids[0]!r} once "
                "Redis is back")
        return PetitionTimeout(pids, timeout, self._hint())

    # ------------------------------------------------------------- the law

    def law(self, start: int = 0, stop: int | None = None, *, linearizable: bool = False,
            timeout: float = 10.0) -> list[tuple[int, bytes]]:
        """Passed decrees ``start <= n < stop`` as ``[(n, body)]``, petitions only, in order.

        ``linearizable=True`` first passes a :meth:`sync` barrier, so the result holds
        every decree passed before this call began.
        """
        check_timeout(timeout)
        reader = LawReader(start, stop, None)
        deadline = time.monotonic() + timeout
        if linearizable:
            reader.barrier = self.sync(timeout)
        pause = 0.01
        while not reader.done:
            if time.monotonic() >= deadline:
                raise ParliamentUnavailable(
                    f"no priest answered with {reader.describe()} within {timeout:g} s. "
                    f"{self._hint()}")
            if not reader.take(self._ask(reader, deadline)) and not reader.done:
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, 0.2)    # priests still catching up: ask again soon
            else:
                pause = 0.01
        return reader.law

    def _ask(self, reader: LawReader, deadline: float) -> list[LawAnswer]:
        """One round of law queries to the live priests; the answers that came back."""
        self._check_open()
        priests = live_priests(self.keys, read_roster(self.redis, self.keys))
        req = uuid.uuid4().hex
        query = reader.query(req, self.citizen_id).fields()
        with self._cond:
            self._answers[req] = []
        try:
            answers: list[LawAnswer] | None = None
            while answers is None and time.monotonic() < deadline:
                self._send([(self.keys.inbox(priest), query) for priest in priests])
                until = min(deadline, time.monotonic() + self.retry)
                answers = self._wait(lambda: list(self._answers[req]) or None, until)
            if answers is not None and len(answers) < len(priests):   # let the others catch up
                until = min(deadline, time.monotonic() + GATHER)
                self._wait(lambda: True if len(self._answers[req]) >= len(priests) else None, until)
                with self._cond:
                    answers = list(self._answers[req])
            return answers or []
        finally:
            with self._cond:
                del self._answers[req]

    def _hint(self) -> str:
        try:
            return hint(self.keys, read_roster(self.redis, self.keys))
        except TRANSIENT:
            return ""

    # ------------------------------------------------------------- the reply stream

    def _send(self, entries: list[tuple[str, Mapping[bytes, bytes]]]) -> None:
        """XADD in one pipelined round trip; an unreachable Redis is noted, not raised."""
        commands = [("XADD", stream, "MAXLEN", "~", MAXLEN, "*", *_flat(fields))
                    for stream, fields in entries]
        try:
            with self._send_lock:
                self._sender.execute(commands)
        except TRANSIENT as exc:
            self._redis_error = exc
            log.warning("could not send %d entries to Redis (%s); retrying", len(entries), exc)

    def _wait(self, ready: Callable[[], T | None], until: float) -> T | None:
        """``ready()`` once it is not None (evaluated under the lock), or None at ``until``."""
        while True:
            with self._cond:
                while True:
                    got = ready()
                    if got is not None:
                        return got
                    now = time.monotonic()
                    if now >= until:
                        return None
                    if not self._reading:
                        self._reading = True
                        block = max(1, min(self._block_ms, int((until - now) * 1000)))
                        break
                    self._cond.wait(until - now)
            self._read(block)

    def _read(self, block_ms: int) -> None:
        """One XREAD of the reply stream (only the thread holding ``_reading``)."""
        entries: list[Any] = []
        try:
            [reply] = self._reader.execute([("XREAD", "COUNT", READ_COUNT, "BLOCK", block_ms,
                                             "STREAMS", self.reply_stream, self._last_id)])
            entries = [(entry_id, _fields(flat)) for entry_id, flat in _entries(reply)]
            self._redis_error = None
        except TRANSIENT as exc:
            self._redis_error = exc
            time.sleep(min(0.05, block_ms / 1000))
        finally:
            with self._cond:
                self._reading = False
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    for item in parse_reply(fields):
                        self._file(item)
                self._cond.notify_all()

    def _file(self, item: Reply | Receipt | LawAnswer) -> None:
        if isinstance(item, Receipt):
            if item.petition in self._pids and item.petition not in self._replies:
                counted = self._tally.add(item)
                if counted is not None:
                    self._replies[item.petition] = counted
        elif isinstance(item, Reply):
            if item.pid in self._pids:
                self._replies.setdefault(item.pid, item)    # a retry's duplicate is the same
        elif isinstance(item, LawAnswer):
            if item.req in self._answers:
                self._answers[item.req].append(item)

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
            if self._own_id:
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
