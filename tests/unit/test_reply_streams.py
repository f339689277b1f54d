"""The citizens' reply streams a priest writes to and their TTLs
(``runtime/reply_streams.py``), on their own: when a stream's EXPIRE is due.  No Redis:
time and the conduit's count of connections are passed in."""

from __future__ import annotations

import pytest

from paxos_redis.messengers.keys import Keys
from paxos_redis.runtime.reply_streams import REPLY_TTL_REFRESH_S, REPLY_TTL_S, ReplyStreams

KEYS = Keys("senate")
ALICE, BOB, CAROL = (KEYS.replies(c) for c in ("alice", "bob", "carol"))
T0 = 1000.0


def written(*streams: str) -> list[tuple[str, dict[bytes, bytes]]]:
    """What a batch writes: one entry per stream."""
    return [(s, {b"passed": b""}) for s in streams]


def test_a_citizens_stream_key_is_made_once_and_checked() -> None:
    r = ReplyStreams(KEYS, most=2)
    assert r.stream("alice") == ALICE and r.stream("alice") is r.stream("alice")
    with pytest.raises(ValueError, match="invalid citizen id"):
        r.stream("no spaces")
    r.stream("bob")
    assert r.stream("carol") == CAROL and set(r.reply_keys) == {"carol"}   # full: begun anew


def test_a_streams_ttl_is_set_once_a_minute_not_per_reply() -> None:
    r = ReplyStreams(KEYS)
    assert r.expiring(written(ALICE, BOB), T0, 1) == {ALICE: REPLY_TTL_S, BOB: REPLY_TTL_S}
    assert r.expiring(written(ALICE), T0 + 1, 1) == {}             # within the minute
    assert r.refresh(T0 + 2) == []                                 # not yet
    assert r.refresh(T0 + REPLY_TTL_REFRESH_S) == [("EXPIRE", ALICE, REPLY_TTL_S)]
    assert r.refresh(T0 + REPLY_TTL_REFRESH_S + 1) == []           # once: nothing written since
    assert r.expiring(written(BOB), T0 + 30, 1) == {}
    assert r.expiring(written(BOB), T0 + REPLY_TTL_REFRESH_S, 1) == {BOB: REPLY_TTL_S}
    assert r.refresh(T0 + 10 * REPLY_TTL_REFRESH_S) == []          # set with that reply


def test_every_streams_ttl_is_set_again_after_a_reconnection() -> None:
    r = ReplyStreams(KEYS)
    assert r.expiring(written(ALICE), T0, 1) == {ALICE: REPLY_TTL_S}
    assert r.expiring(written(ALICE), T0 + 1, 1) == {}
    assert r.expiring(written(ALICE, BOB), T0 + 2, 2) == {ALICE: REPLY_TTL_S, BOB: REPLY_TTL_S}
    assert r.expiring(written(ALICE), T0 + 3, 2) == {}
    assert r.refresh(T0 + 3 + REPLY_TTL_REFRESH_S) == [("EXPIRE", ALICE, REPLY_TTL_S)]


def test_past_its_maximum_a_priest_forgets_the_streams_it_has_not_written_lately() -> None:
    r = ReplyStreams(KEYS, most=2)
    r.expiring(written(ALICE), T0, 1)
    r.expiring(written(BOB), T0 + 50, 1)
    r.expiring(written(CAROL), T0 + REPLY_TTL_REFRESH_S + 10, 1)   # three: one too many
    assert set(r.ttl_set) == {BOB, CAROL}                          # ALICE's was a minute ago
    assert r.expiring(written(BOB), T0 + 60, 1) == {}              # BOB's is still known...
    assert r.expiring(written(ALICE), T0 + 71, 1) == {ALICE: REPLY_TTL_S}   # ALICE's set anew
