"""Petitions sent at once travel packed: one petitions-stream entry, many petitions."""

from __future__ import annotations

import pytest

from paxos_redis.messengers.citizens import PACK_BYTES, PACK_MAX, PetitionEntry, petition_fields
from paxos_redis.protocol import Decree, MalformedMessage


def test_a_lone_petition_is_one_plain_entry() -> None:
    [fields] = petition_fields([Decree("a", b"1")], "c-1")
    assert fields == PetitionEntry(Decree("a", b"1"), "c-1").fields()
    assert PetitionEntry.parse_many(fields) == [PetitionEntry(Decree("a", b"1"), "c-1")]


def test_many_go_in_packs_bounded_by_count_and_by_bytes() -> None:
    decrees = [Decree(f"p{i}", b"x") for i in range(PACK_MAX + 3)]
    packs = petition_fields(decrees, "c-1")
    parsed = [PetitionEntry.parse_many(fields) for fields in packs]
    assert [len(p) for p in parsed] == [PACK_MAX, 3]
    assert [e.decree for p in parsed for e in p] == decrees
    assert {e.reply for p in parsed for e in p} == {"c-1"}
    big = [Decree(f"b{i}", b"x" * (PACK_BYTES // 2)) for i in range(3)]
    assert [len(PetitionEntry.parse_many(f)) for f in petition_fields(big, "c-1")] == [2, 1]
    assert petition_fields([], "c-1") == []


@pytest.mark.parametrize("fields, field", [
    ({b"pack": b"\x00\x00\x00\x05ab", b"reply": b"c-1"}, "pack"),         # cut short
    ({b"pack": b"", b"reply": b"c-1"}, "pack"),                           # empty
    ({b"pack": b"\x00\x00\x00\x01\x00", b"reply": b"c-1"}, "pack"),       # an empty id
    ({b"pack": b"\x00\x00\x00\x02\x01a"}, "reply"),                        # nobody to answer
    ({b"pack": b"\x00\x00\x00\x02\x01a", b"reply": b"no spaces"}, "reply"),
])
def test_a_bad_pack_is_malformed_naming_the_field(fields: dict[bytes, bytes], field: str) -> None:
    with pytest.raises(MalformedMessage, match=field):
        PetitionEntry.parse_many(fields)
