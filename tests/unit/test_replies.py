"""Answers to citizens: one reply-stream entry per citizen per batch."""

from __future__ import annotations

import pytest

from paxos_redis.citizens import Reply, batch_replies, parse_replies
from paxos_redis.client import parse_reply
from paxos_redis.protocol import MalformedMessage


def test_a_batch_gives_each_citizen_one_entry_with_all_its_numbers() -> None:
    law_answer = {b"req": b"r1", b"seat": b"0"}
    extra = [("replies:a", Reply("p1", n=5)), ("replies:b", Reply("p2", n=6)),
             ("replies:a", Reply("p3", n=7)), ("replies:a", Reply("p4", error="too big")),
             ("replies:b", law_answer), ("replies:a", Reply("!sync-1", n=8))]
    out = batch_replies(extra)
    assert ("replies:a", Reply("p4", error="too big").fields()) in out
    assert ("replies:b", law_answer) in out
    packed = {stream: fields for stream, fields in out if b"passed" in fields}
    assert len(out) == 4 and set(packed) == {"replies:a", "replies:b"}
    assert parse_replies(packed["replies:a"]) == [Reply("p1", n=5), Reply("p3", n=7),
                                                  Reply("!sync-1", n=8)]
    assert parse_replies(packed["replies:b"]) == [Reply("p2", n=6)]


def test_one_answer_per_entry_still_reads() -> None:
    assert parse_replies(Reply("p", n=3).fields()) == [Reply("p", n=3)]
    assert parse_replies(Reply("p", error="no").fields()) == [Reply("p", error="no")]


def test_a_mangled_batch_is_malformed_and_the_client_skips_it() -> None:
    good = batch_replies([("s", Reply("p1", n=5))])[0][1]
    with pytest.raises(MalformedMessage, match="passed"):
        parse_replies({b"passed": good[b"passed"][:-2] + b"\xff\xff\xff"})
    assert parse_reply({b"passed": b"\x00\x00"}) == []
