"""Ledger records: the pure codec for what a priest writes in indelible ink."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paxos_redis.protocol import (
    ZERO,
    Archived,
    Ballot,
    CorruptRecord,
    Decree,
    Passed,
    Promise,
    ProtocolError,
    Seat,
    Tried,
    Votes,
    decode_record,
    encode_record,
)

A, BIN = Decree("a", b"alpha"), Decree("b\u00e9", b"\x00\xff\x00\xfe")

RECORDS: list[Any] = [
    Seat("senate", 2, 5),
    Seat("", 0, 1),
    Seat("par\u00ec\u2713", 4294967295, 4294967295),
    Promise(Ballot(3, 1)),
    Promise(ZERO),
    Promise(Ballot(2**64 - 1, 2**31 - 1)),
    Tried(Ballot(9, 0)),
    Tried(ZERO),
    Votes(Ballot(4, 2), ((0, A), (1, BIN), (7, Decree("", b"")))),
    Votes(Ballot(4, 2), ()),
    Passed(((5, A), (6, BIN))),
    Passed(()),
    Archived(0),
    Archived(2**64 - 1),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{type(r).__name__}")
def test_round_trip_every_record_kind(record: Any) -> None:
    data = encode_record(record)
    assert isinstance(data, bytes)
    assert decode_record(data) == record
    assert type(decode_record(data)) is type(record)


@pytest.mark.parametrize("record, kind", [
    (Seat("x", 0, 1), b"S"), (Promise(ZERO), b"P"), (Tried(ZERO), b"T"),
    (Votes(ZERO, ()), b"V"), (Passed(()), b"L"), (Archived(3), b"A"),
])
def test_kind_byte_leads_each_record(record: Any, kind: bytes) -> None:
    assert encode_record(record)[:1] == kind


def test_large_records_round_trip() -> None:
    entries = tuple((n, Decree(f"p{n}", bytes([n % 256]) * (n % 97))) for n in range(3000))
    assert decode_record(encode_record(Passed(entries))) == Passed(entries)
    assert decode_record(encode_record(Votes(Ballot(1, 1), entries))) == Votes(Ballot(1, 1), entries)


def test_encode_rejects_what_is_not_a_record() -> None:
    with pytest.raises(TypeError, match="not a ledger record"):
        encode_record(Ballot(1, 1))  # type: ignore[arg-type]


# ---------------------------------------------------------------- corrupt input

BALLOT = struct.pack(">Qi", 3, 1)
ENTRY = encode_record(Passed(((1, A),)))[1:]


@pytest.mark.parametrize("data", [
    pytest.param(b"", id="empty"),
    pytest.param(b"X", id="unknown-kind-alone"),
    pytest.param(b"Z" + BALLOT, id="unknown-kind"),
    pytest.param(b"p" + BALLOT, id="lowercase-kind"),
    pytest.param(b"P", id="promise-no-ballot"),
    pytest.param(b"P" + BALLOT[:-1], id="promise-truncated-ballot"),
    pytest.param(b"P" + BALLOT + b"\x00", id="promise-too-long"),
    pytest.param(b"T" + BALLOT[:5], id="tried-truncated-ballot"),
    pytest.param(b"T" + BALLOT + BALLOT, id="tried-too-long"),
    pytest.param(b"V", id="votes-no-ballot"),
    pytest.param(b"V" + BALLOT[:11], id="votes-truncated-ballot"),
    pytest.param(b"V" + BALLOT + ENTRY[:-1], id="votes-truncated-entries"),
    pytest.param(b"V" + BALLOT + ENTRY[:5], id="votes-truncated-entry-header"),
    pytest.param(b"L" + ENTRY[:-1], id="passed-truncated-entries"),
    pytest.param(b"L" + ENTRY + ENTRY[:3], id="passed-trailing-partial-entry"),
    pytest.param(b"L" + b"\x00" * 8 + b"\x00\x00\x00\x00", id="passed-empty-decree"),
    pytest.param(b"L" + b"\x00" * 8 + b"\x00\x00\x00\x03\x02\xff\xfe", id="passed-id-not-utf8"),
    pytest.param(b"S", id="seat-empty"),
    pytest.param(b"S" + b"\x00" * 7, id="seat-truncated"),
    pytest.param(b"S" + struct.pack(">II", 0, 3) + b"\xff\xfe", id="seat-bad-utf8-parliament"),
    pytest.param(b"S" + struct.pack(">II", 0, 3) + b"caf\xc3", id="seat-cut-utf8-parliament"),
    pytest.param(b"P" + struct.pack(">Qi", 1, -2), id="promise-impossible-priest"),
    pytest.param(b"V" + struct.pack(">Qi", 1, -9) + ENTRY, id="votes-impossible-priest"),
])
def test_corrupt_input_raises_corrupt_record(data: bytes) -> None:
    with pytest.raises(CorruptRecord) as info:
        decode_record(data)
    assert str(info.value)


def test_corrupt_record_is_a_protocol_error_saying_what_is_wrong() -> None:
    assert issubclass(CorruptRecord, ProtocolError)
    with pytest.raises(CorruptRecord, match="empty record"):
        decode_record(b"")
    with pytest.raises(CorruptRecord, match=r"unknown record kind b'Z'"):
        decode_record(b"Zabc")
    with pytest.raises(CorruptRecord, match=r"wrong length 11"):
        decode_record(b"P" + BALLOT[:-1])
    with pytest.raises(CorruptRecord, match=r"record kind b'S'"):
        decode_record(b"S" + struct.pack(">II", 0, 3) + b"\xff")


@pytest.mark.parametrize("record", [r for r in RECORDS if encode_record(r)[1:]],
                         ids=lambda r: type(r).__name__)
def test_every_truncation_is_corrupt_or_a_shorter_valid_record(record: Any) -> None:
    """A torn tail never decodes to a *different* record of a fixed-size kind."""
    data = encode_record(record)
    for cut in range(1, len(data)):
        try:
            again = decode_record(data[:cut])
        except CorruptRecord:
            continue
        # only the variable-length kinds may decode a prefix, and then to a prefix of the batch
        assert isinstance(again, (Seat, Passed, Votes)), cut
        if isinstance(again, (Passed, Votes)):
            assert again.entries == record.entries[: len(again.entries)]


# ---------------------------------------------------------------- properties

packed_ballots = st.builds(Ballot, st.integers(0, 2**64 - 1), st.integers(-1, 2**31 - 1))
decrees = st.builds(Decree, st.text(max_size=10), st.binary(max_size=30))
entries = st.lists(st.tuples(st.integers(0, 2**64 - 1), decrees), max_size=5).map(tuple)
records = st.one_of(
    st.builds(Seat, st.text(max_size=20), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.builds(Promise, packed_ballots),
    st.builds(Tried, packed_ballots),
    st.builds(Votes, packed_ballots, entries),
    st.builds(Passed, entries),
    st.builds(Archived, st.integers(0, 2**64 - 1)),
)


@given(records)
def test_property_round_trip(record: Any) -> None:
    assert decode_record(encode_record(record)) == record


def _decodes_or_corrupt(data: bytes) -> None:
    try:
        record = decode_record(data)
    except CorruptRecord:
        return
    assert isinstance(record, (Seat, Promise, Tried, Votes, Passed, Archived))


@given(st.binary(max_size=80))
def test_property_random_bytes_decode_or_raise_corrupt(data: bytes) -> None:
    _decodes_or_corrupt(data)


@given(st.sampled_from([b"S", b"P", b"T", b"V", b"L", b"A"]), st.binary(max_size=80))
def test_property_random_bodies_of_known_kinds_decode_or_raise_corrupt(
        kind: bytes, body: bytes) -> None:
    _decodes_or_corrupt(kind + body)


@given(records, st.data())
def test_property_damaged_records_decode_or_raise_corrupt(record: Any, data: Any) -> None:
    raw = bytearray(encode_record(record))
    for _ in range(data.draw(st.integers(1, 3))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    _decodes_or_corrupt(bytes(raw[: data.draw(st.integers(0, len(raw)))]))
