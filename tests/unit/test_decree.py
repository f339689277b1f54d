"""Decrees: opaque bodies tagged with a petition id; the olive-day decree fills gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paxos_redis.protocol import OLIVE_DAY, Decree, ProtocolError
from paxos_redis.protocol.decree import MAX_PETITION_ID


def test_olive_day_is_the_empty_decree() -> None:
    assert OLIVE_DAY == Decree("", b"")
    assert OLIVE_DAY.is_olive_day
    assert Decree("", b"").is_olive_day


def test_a_petition_is_not_olive_day() -> None:
    assert not Decree("p1", b"").is_olive_day
    assert not Decree("p1", b"body").is_olive_day


def test_encoding_is_id_length_id_then_body() -> None:
    assert Decree("ab", b"\x00xyz").encode() == b"\x02ab\x00xyz"
    assert OLIVE_DAY.encode() == b"\x00"
    assert Decree("\u00e9", b"").encode() == b"\x02\xc3\xa9"


@pytest.mark.parametrize("decree", [
    OLIVE_DAY, Decree("a", b""), Decree("", b"\x00\x01"), Decree("id", b"\xff\xfe\x00\x80"),
    Decree("x" * MAX_PETITION_ID, b"b" * 10_000), Decree("\u2713\u00e9", bytes(range(256))),
])
def test_round_trip(decree: Decree) -> None:
    assert Decree.decode(decree.encode()) == decree


@given(st.text(max_size=60), st.binary(max_size=200))
def test_property_round_trip(petition: str, body: bytes) -> None:
    decree = Decree(petition, body)
    again = Decree.decode(decree.encode())
    assert again == decree
    assert type(again.body) is bytes


def test_decode_of_a_bytearray_gives_a_bytes_body() -> None:
    again = Decree.decode(bytearray(Decree("p", b"body").encode()))  # type: ignore[arg-type]
    assert again == Decree("p", b"body")
    assert type(again.body) is bytes


def test_petition_id_limit_is_in_bytes() -> None:
    Decree("x" * 255, b"")
    with pytest.raises(ProtocolError, match="longer than 255 bytes"):
        Decree("x" * 256, b"")
    Decree("\u00e9" * 127, b"")                     # 254 bytes
    with pytest.raises(ProtocolError, match="longer than 255 bytes"):
        Decree("\u00e9" * 128, b"")                 # 128 characters, 256 bytes


@pytest.mark.parametrize("petition, body, word", [
    (b"id", b"", "petition id must be str, got bytes"),
    (None, b"", "petition id must be str, got NoneType"),
    (7, b"", "petition id must be str, got int"),
    ("id", "text", "decree body must be bytes, got str"),
    ("id", bytearray(b"x"), "decree body must be bytes, got bytearray"),
    ("id", None, "decree body must be bytes, got NoneType"),
])
def test_invalid_construction(petition: object, body: object, word: str) -> None:
    with pytest.raises(ProtocolError, match=word):
        Decree(petition, body)  # type: ignore[arg-type]


@pytest.mark.parametrize("data, word", [
    (b"", "empty decree encoding"),
    (b"\x05abc", "id length 5 runs past the 4 bytes"),
    (b"\xff", "id length 255 runs past"),
    (b"\x02\xff\xfe", "not UTF-8"),
])
def test_decode_errors(data: bytes, word: str) -> None:
    with pytest.raises(ProtocolError, match=word):
        Decree.decode(data)


def test_decrees_are_frozen_values() -> None:
    d = Decree("p", b"x")
    with pytest.raises(AttributeError):
        d.body = b"y"  # type: ignore[misc]
    assert d == Decree("p", b"x") and hash(d) == hash(Decree("p", b"x"))
    assert d != Decree("p", b"y") and d != Decree("q", b"x")


def test_a_small_decree_keeps_its_encoding_a_large_one_does_not() -> None:
    from paxos_redis.protocol.decree import KEEP_WIRE
    small, large = Decree("s", b"x" * 100), Decree("l", b"y" * KEEP_WIRE)
    assert small.encode() is small.encode() and small.wire == small.encode()
    assert large.encode() == large.encode() and large.wire is None
    again = Decree.decode(small.encode())
    assert again == small and again.wire == small.encode()
    assert Decree.decode(large.encode()).wire is None
    assert Decree("s", b"x" * 100) == small and hash(Decree("s", b"x" * 100)) == hash(small)
