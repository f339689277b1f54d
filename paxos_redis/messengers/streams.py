"""The priest's messenger: its own Redis stream (its inbox), read through a consumer group.

In the paper messengers may lose, duplicate, delay or reorder messages; here the
same holds of Redis, which may even restart empty.  Safety never depends on this
adapter, so it is deliberately thin and forgiving:

* it moves opaque field dicts; the caller decodes (and dead-letters what it cannot);
* a lost stream or group (``NOGROUP``, e.g. after a Redis restart) is recreated,
  logged once at WARNING, and reading goes on: no operator action;
* every stream it writes is trimmed approximately (``MAXLEN ~``), so none grows
  without bound (trimming an unread entry is just a lost message); and each priest
  trims its own inbox below what it has acked (``MINID ~``, every 100 entries or
  100 ms), since an inbox entry can carry hundreds of decrees and nobody reads it
  again once acked, so inboxes stay short in bytes, not only in entries;
* a batch of sends and acks is ONE pipelined round trip, sends first and acks
  last, so a cut connection leaves entries un-acked (redelivered via
  :meth:`Messenger.reclaim`), never acked-but-unanswered by design; the priest
  writes it with its next read, and reads its answers with that read's;
* an unreachable Redis raises :class:`redis.exceptions.ConnectionError` /
  ``TimeoutError``; the caller rides it out with
  :class:`paxos_redis.messengers.connection.Backoff`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from redis.exceptions import ResponseError

from paxos_redis.messengers.conduit import Conduit
from paxos_redis.messengers.connection import BLOCK_MARGIN
from paxos_redis.messengers.keys import PRIEST_GROUP, STAT_DEADLETTER, Keys
from paxos_redis.protocol.membership import name

log = logging.getLogger(__name__)

#: trim the inbox once this many entries were acked since it last was, or this long ago
TRIM_AFTER = 100
TRIM_EVERY_S = 0.1

KeyT = str | bytes
Fields = dict[bytes, bytes]
#: ``(entry id, fields)``; fields are whatever Redis holds (the caller validates).
StreamEntry = tuple[bytes, Fields]

# How Redis (and fakeredis) say "your stream or group is gone".
_GONE = (
    "NOGROUP",                              # group (or stream) missing, also when blocked on it
    "UNBLOCKED the stream key no longer exists",  # Redis 7: stream deleted while blocked
    "requires the key to exist",            # fakeredis: XREADGROUP on a missing stream
)


def _is_gone(exc: ResponseError) -> bool:
    text = str(exc)
    return any(marker in text for marker in _GONE)


class Messenger:
    """Sends to other priests' inboxes and reads, acks and reclaims its own.

    ``redis`` is a redis-py ``Redis`` with ``decode_responses=False`` (or a
    fakeredis twin); ``consumer`` names this process within the group (one
    consumer per process, e.g. ``"<priest>-host-pid"``).
    """

    def __init__(
        self,
        redis: Any,
        keys: Keys,
        priest: int,
        consumer: str,
        *,
        maxlen: int = 100_000,
        group: str = PRIEST_GROUP,
    ) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen!r}")
        if not consumer:
            raise ValueError("consumer name must not be empty")
        self.redis = redis
        self.keys = keys
        self.priest = priest
        self.name = name(priest)
        self.consumer = consumer
        self.maxlen = maxlen
        self.group = group
        self.inbox = keys.inbox(priest)
        self.conduit = Conduit(redis)
        self._untrimmed = 0                 # inbox entries acked since it was last trimmed
        self._next_trim = 0.0
        self._max_block_ms = max_block_ms(redis)

    # ------------------------------------------------------------- the group

    def ensure(self) -> bool:
        """Create the group on the inbox (MKSTREAM, from id 0). True if it was created.

        From id ``0`` so that messages sent to a freshly (re)created stream
        before the group existed are still read.  Idempotent.
        """
        try:
            self.redis.xgroup_create(self.inbox, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return False
            raise
        return True

    def _recreate(self, op: str, exc: ResponseError) -> None:
        log.warning(
            "priest %s: inbox %s or its group %r is gone (%s during %s), probably a Redis "
            "restart; recreating it and reading on (messages in flight are lost, which "
            "the Parliament tolerates)", self.name, self.inbox, self.group, exc, op,
        )
        self.ensure()

    # ------------------------------------------------------------- reading

    def receive(self, count: int, block_ms: int) -> list[StreamEntry]:
        """Up to ``count`` new entries, waiting up to ``block_ms`` (``<= 0``: don't wait)."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        if self._max_block_ms is not None and block_ms > self._max_block_ms:
            raise ValueError(
                f"block_ms={block_ms} would outlast the client's socket timeout; use at most "
                f"{self._max_block_ms} ms or connect with a socket_timeout above "
                f"block_ms/1000 + {BLOCK_MARGIN} s"
            )
        got = self._read([self.inbox], count, block_ms)
        return got.get(self.inbox, []) if got is not None else []

    def ensure_stream(self, stream: str) -> None:
        """Create this messenger's group on another stream (e.g. petitions), idempotent."""
        try:
            self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def receive_with(self, others: list[str], count: int, block_ms: int) -> dict[str, list[StreamEntry]]:
        """Like :meth:`receive`, reading ``others`` streams in the same blocking call.

        Returns entries per stream name (the inbox included).  A lost stream or
        group on any of them is recreated, as in :meth:`receive`.
        """
        if not others:
            return {self.inbox: self.receive(count, block_ms)}
        got = self._read([self.inbox, *others], count, block_ms)
        if got is None:
            for name in others:
                self.ensure_stream(name)
            return {}
        return got

    def _read(self, streams: list[str], count: int,
              block_ms: int) -> dict[str, list[StreamEntry]] | None:
        """One XREADGROUP over ``streams`` (the inbox first); None if a group was recreated."""
        command: list[Any] = ["XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", count]
        if block_ms > 0:
            command += ["BLOCK", block_ms]
        command += ["STREAMS", *streams, *(">" for _ in streams)]
        try:
            reply = self.conduit.execute([command])[0]
        except ResponseError as exc:
            if not _is_gone(exc):
                raise
            self._recreate("XREADGROUP", exc)
            return None
        out: dict[str, list[StreamEntry]] = {}
        for stream, entries in (reply.items() if isinstance(reply, Mapping) else reply or ()):
            key = stream.decode() if isinstance(stream, bytes) else str(stream)
            out[key] = [(entry_id, entry_fields(flat)) for entry_id, flat in entries or ()]
        return out

    def reclaim(self, min_idle_ms: int, count: int, *, stream: str | None = None) -> list[StreamEntry]:
        """Claim up to ``count`` entries pending longer than ``min_idle_ms`` for this consumer.

        After a crash, what a previous process of this priest read but never acked
        is still pending in the group: XAUTOCLAIM hands it to us.  Entries that
        were trimmed or deleted meanwhile (XAUTOCLAIM's third reply element on
        Redis 7, or nil fields on 6.2) are dropped from the pending list.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        target = stream or self.inbox
        claimed: list[StreamEntry] = []
        start: KeyT = "0-0"
        while len(claimed) < count:
            try:
                reply = self.redis.xautoclaim(
                    target, self.group, self.consumer, min_idle_ms,
                    start_id=start, count=count - len(claimed),
                )
            except ResponseError as exc:
                if not _is_gone(exc):
                    raise
                self._recreate("XAUTOCLAIM", exc)
                return claimed
            start, entries = reply[0], reply[1] or []
            deleted = list(reply[2]) if len(reply) > 2 and reply[2] else []
            for entry_id, fields in entries:
                if fields is None:          # Redis 6.2: a claimed entry that no longer exists
                    deleted.append(entry_id)
                else:
                    claimed.append((entry_id, fields))
            if deleted:
                log.info("priest %s: %d pending entries were trimmed before they could be "
                         "reclaimed: %s", self.name, len(deleted), deleted[:5])
                self.redis.xack(target, self.group, *deleted)
            if start in (b"0-0", "0-0"):
                break
        return claimed

    def trim_answered(self, stream: str) -> None:
        """Trim ``stream`` (read through this group, like the petitions) below the oldest
        entry still pending, or, with none pending, below the last one delivered: what
        was read and acked is never read again, so it need not hold Redis's memory
        until MAXLEN trims it (a MAXLEN of large petitions is a lot of bytes)."""
        try:
            group = next((g for g in self.redis.xinfo_groups(stream)
                          if _as_bytes(g["name"]) == self.group.encode()), None)
            if group is None:
                return
            lowest = group["last-delivered-id"]
            if group["pending"]:
                lowest = self.redis.xpending(stream, self.group)["min"] or lowest
            self.redis.xtrim(stream, minid=lowest, approximate=False)
        except ResponseError as exc:
            if not _is_gone(exc) and "no such key" not in str(exc):
                raise

    # ------------------------------------------------------------- writing

    def flush(
        self,
        outgoing: Iterable[tuple[int, Mapping[Any, Any]]],
        ack_ids: Iterable[KeyT],
        extra: Iterable[tuple[KeyT, Mapping[Any, Any]]] = (),
        *,
        expire: Mapping[KeyT, int] | None = None,
        other_acks: Mapping[KeyT, list[KeyT]] | None = None,
        wait: bool = True,
    ) -> int:
        """Send, publish and ack a batch in ONE pipelined round trip.

        ``outgoing``: ``(priest, fields)`` for other priests' inboxes; ``extra``:
        ``(stream key, fields)`` for anything else (replies to citizens, the law
        feed).  Every XADD trims its stream to about ``maxlen``.  ``expire`` sets a TTL
        in seconds on streams written here; ``other_acks`` acks entries of other streams
        read through this group.  Acks go last, this inbox's very last, and then the
        inbox is trimmed below the newest entry acked, once TRIM_AFTER entries were acked
        since it last was or TRIM_EVERY_S went by (``MINID ~`` frees only whole nodes:
        up to 100 entries, fewer when they are large).
        Returns how many entries the XACK of this inbox acknowledged (0 if there was none).
        With ``wait=False`` the batch is queued and 0 returned: the next read, post or
        flush writes it first (in the same write), and the next read or flush reads its
        replies first and raises its errors, if any.
        """
        maxlen = ("MAXLEN", "~", self.maxlen)
        commands = self._xadds(outgoing)
        commands += [("XADD", stream, *maxlen, "*", *flat_fields(fields)) for stream, fields in extra]
        commands += [("EXPIRE", stream, seconds) for stream, seconds in (expire or {}).items()]
        commands += [("XACK", stream, self.group, *ids)
                     for stream, ids in (other_acks or {}).items() if ids]
        acks, xack = list(ack_ids), len(commands)
        if acks:
            commands.append(("XACK", self.inbox, self.group, *acks))
            self._untrimmed += len(acks)
            if self._untrimmed >= TRIM_AFTER or time.monotonic() >= self._next_trim:
                self._untrimmed, self._next_trim = 0, time.monotonic() + TRIM_EVERY_S
                commands.append(("XTRIM", self.inbox, "MINID", "~", max(acks, key=_id_key)))
        if not commands:
            return 0
        if not wait:
            self.conduit.queue(commands)
            return 0
        results = self.conduit.execute(commands)
        return int(results[xack]) if acks else 0

    def post(self, outgoing: Iterable[tuple[int, Mapping[Any, Any]]]) -> None:
        """Send ``(priest, fields)`` to other priests' inboxes now, without waiting for Redis
        to answer: the next :meth:`flush` or read checks the answers (a begin ballot goes
        out this way while the president's own vote is fsynced)."""
        commands = self._xadds(outgoing)
        if commands:
            self.conduit.send(commands)

    def _xadds(self, outgoing: Iterable[tuple[int, Mapping[Any, Any]]]) -> list[Any]:
        maxlen = ("MAXLEN", "~", self.maxlen)
        return [("XADD", self.keys.inbox(priest), *maxlen, "*", *flat_fields(fields))
                for priest, fields in outgoing]

    def dead_letter(self, entry_id: KeyT, fields: Any, reason: str, *,
                    stream: str | None = None) -> bytes:
        """Move an entry nobody can read to the dead-letter stream, count it, and ack it.

        The original fields are kept (values Redis cannot store are ``repr``-ed),
        plus ``reason``, ``priest`` and ``entry`` (those three win over originals
        of the same name).  Returns the dead-letter entry's id.
        """
        record = _storable(fields)
        record.update({b"reason": reason.encode(), b"priest": self.name.encode(),
                       b"entry": _as_bytes(entry_id)})
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(self.keys.deadletter(), record, maxlen=self.maxlen, approximate=True)
        pipe.hincrby(self.keys.stats(), STAT_DEADLETTER, 1)
        pipe.xack(stream or self.inbox, self.group, entry_id)
        new_id, _, _ = pipe.execute()
        log.warning("priest %s: dead-lettered entry %r: %s", self.name, entry_id, reason)
        return bytes(new_id)


# ------------------------------------------------------------------ helpers

def max_block_ms(redis: Any) -> int | None:
    """The longest BLOCK the client's socket timeout allows, or None if unbounded/unknown."""
    try:
        timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
    except AttributeError:
        return None
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        return None
    return max(0, int((timeout - BLOCK_MARGIN) * 1000))


def stream_entries(reply: Any) -> list[StreamEntry]:
    """Entries of an XREAD or XREADGROUP reply on one stream, RESP2 list or RESP3 dict shape."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, Mapping) else (s[1] for s in reply)
    out: list[StreamEntry] = []
    for entries in streams:
        for item in entries or ():
            # RESP3 (non-legacy) may nest one more list level per stream.
            if item and isinstance(item[0], (list, tuple)):
                out.extend((e[0], e[1] if e[1] is not None else {}) for e in item)
            else:
                out.append((item[0], item[1] if item[1] is not None else {}))
    return out


def entry_fields(flat: Any) -> Fields:
    """An entry's fields from the flat ``[field, value, ...]`` of a raw reply."""
    if not flat:
        return {}
    return dict(zip(flat[::2], flat[1::2], strict=True))


def flat_fields(fields: Mapping[Any, Any]) -> list[Any]:
    """Fields as XADD's flat ``field value ...`` arguments."""
    if not fields:
        raise ValueError("an entry needs at least one field")
    return [part for pair in fields.items() for part in pair]


def _id_key(entry_id: KeyT) -> tuple[int, int]:
    """A stream entry id (``ms-seq``) as numbers, for ordering."""
    ms, _, seq = _as_bytes(entry_id).partition(b"-")
    return int(ms), int(seq or 0)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode()


def _storable(fields: Any) -> dict[bytes, bytes]:
    """A copy of ``fields`` that XADD accepts, whatever it held."""
    if not isinstance(fields, Mapping):
        return {b"raw": _as_bytes(fields)}
    return {_as_bytes(k): _as_bytes(v) for k, v in fields.items()}
