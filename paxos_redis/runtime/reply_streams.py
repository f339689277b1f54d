"""The citizens' reply streams a priest writes to, and their time to live.

Each citizen reads its answers (replies, receipts, law answers) from its own stream
(:meth:`paxos_redis.messengers.keys.Keys.replies`), which priests create by writing to
it.  A stream no citizen reads any more must go away by itself: every priest that writes
to one sets its TTL (REPLY_TTL_S), but once a minute (REPLY_TTL_REFRESH_S), not with
every reply, and again after it reconnects (Redis may have restarted empty, and the next
reply recreated the stream).  What a priest remembers of these streams is bounded by
TTL_SET_MAX: past it, it forgets the streams it has not written for a minute.
"""

from __future__ import annotations

from typing import Any

from paxos_redis.messengers.keys import Keys

#: a reply stream expires this long after a priest last set its TTL
REPLY_TTL_S = 300
#: a reply stream's TTL is set again when this priest last set it this long ago
REPLY_TTL_REFRESH_S = 60
#: reply streams whose TTL a priest remembers setting, before it forgets the stale ones
TTL_SET_MAX = 10_000


class ReplyStreams:
    """One priest's citizens' reply streams: their keys, made once per citizen, and when
    it last set each one's TTL."""

    def __init__(self, keys: Keys, *, most: int = TTL_SET_MAX) -> None:
        self.keys = keys
        self.most = most
        #: citizen id -> its reply stream (the key is checked and made once, not per answer)
        self.reply_keys: dict[str, str] = {}
        #: reply stream -> when this priest last set its TTL
        self.ttl_set: dict[Any, float] = {}
        #: reply streams written since then (their TTL is set again within the minute)
        self.ttl_dirty: dict[Any, None] = {}
        #: the connection count of the priest's conduit when ``ttl_set`` was begun
        self.ttl_epoch = 0

    def stream(self, citizen: str) -> str:
        """The reply stream of ``citizen`` (ValueError for an invalid citizen id)."""
        key = self.reply_keys.get(citizen)
        if key is None:
            if len(self.reply_keys) >= self.most:
                self.reply_keys.clear()
            key = self.reply_keys[citizen] = self.keys.replies(citizen)
        return key

    def expiring(self, extra: list[Any], now: float, connections: int) -> dict[Any, int]:
        """The reply streams among ``extra`` (``(stream, fields)`` about to be written)
        whose TTL this priest has not set for REPLY_TTL_REFRESH_S, each with REPLY_TTL_S:
        set once a minute, not with every reply.  After a reconnection (``connections``,
        the conduit's count of them, changed) they are all set again."""
        due: dict[Any, int] = {}
        if connections != self.ttl_epoch:
            self.ttl_epoch, self.ttl_set = connections, {}
        ttl_set = self.ttl_set
        for stream, _ in extra:
            if stream not in ttl_set or ttl_set[stream] <= now - REPLY_TTL_REFRESH_S:
                ttl_set[stream] = now
                due[stream] = REPLY_TTL_S
                self.ttl_dirty.pop(stream, None)
            else:
                self.ttl_dirty[stream] = None
        if len(ttl_set) > self.most:            # forget streams not written for a while
            self.ttl_set = {k: t for k, t in ttl_set.items() if t > now - REPLY_TTL_REFRESH_S}
        return due

    def refresh(self, now: float) -> list[Any]:
        """EXPIREs for the reply streams written since their TTL was set, once
        REPLY_TTL_REFRESH_S has passed, written again or not: a stream Redis lost (a
        citizen that closed deletes its own) and a later reply recreated expires too."""
        ttl_set, dirty = self.ttl_set, self.ttl_dirty
        due = [s for s in dirty if ttl_set.get(s, 0.0) <= now - REPLY_TTL_REFRESH_S]
        for stream in due:
            del dirty[stream]
            ttl_set[stream] = now
        return [("EXPIRE", stream, REPLY_TTL_S) for stream in due]
