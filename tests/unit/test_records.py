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
    Identity,
    Members,
    Membership,
    Passed,
    Promise,
    ProtocolError,
    Tried,
    Votes,
    decode_record,
    encode_record,
)

A, BIN = Decree("a", b"alpha"), Decree("b\u00e9", b"\x00\xff\x00\xfe")
#: a membership after its founding at 0 (alpha 8) and a change passed at 5 (effective at 13)
MEMBERSHIP = Membership("g1", 8, [(0, frozenset({0xABC, 0xDEF, 7})), (13, frozenset({0xABC, 7}))],
                        pending_until=13, changed_at=5, taken=1)

RECORDS: list[Any] = [
    Identity("senate", 0x1234_5678_9ABC),
    Identity("senate", 0x1234_5678_9ABC, stamp=41),
    Identity("", 1),
    Identity("par\u00ec\u2713", 2**64 - 1, 2**64 - 1),
    Members(20, MEMBERSHIP),
    Members(0, Membership()),
    Promise(Ballot(3, 1)),
    Promise(ZERO),
    Promise(Ballot(2**64 - 1, 2**63 - 1)),
    Promise(Ballot(7, 0xFFFF_FFFF_FFFF)),
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
    (Identity("x", 1), b"I"), (Members(0, Membership()), b"M"), (Promise(ZERO), b"P"), (Tried(ZERO), b"T"),
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

BALLOT = struct.pack(">Qq", 3, 0x1234_5678_9ABC)
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
    pytest.param(b"V" + BALLOT[:15], id="votes-truncated-ballot"),
    pytest.param(b"V" + BALLOT + ENTRY[:-1], id="votes-truncated-entries"),
    pytest.param(b"V" + BALLOT + ENTRY[:5], id="votes-truncated-entry-header"),
    pytest.param(b"L" + ENTRY[:-1], id="passed-truncated-entries"),
    pytest.param(b"L" + ENTRY + ENTRY[:3], id="passed-trailing-partial-entry"),
    pytest.param(b"L" + b"\x00" * 8 + b"\x00\x00\x00\x00", id="passed-empty-decree"),
    pytest.param(b"L" + b"\x00" * 8 + b"\x00\x00\x00\x03\x02\xff\xfe", id="passed-id-not-utf8"),
    pytest.param(b"I", id="identity-empty"),
    pytest.param(b"I" + b"\x00" * 15, id="identity-truncated"),
    pytest.param(b"I" + struct.pack(">QQ", 3, 0) + b"\xff\xfe", id="identity-bad-utf8-parliament"),
    pytest.param(b"I" + struct.pack(">QQ", 3, 0) + b"caf\xc3", id="identity-cut-utf8-parliament"),
    pytest.param(b"S" + struct.pack(">II", 0, 3) + b"senate", id="seat-record-of-old-ledgers"),
    pytest.param(b"M", id="members-empty"),
    pytest.param(b"M" + encode_record(Members(3, MEMBERSHIP))[1:-1], id="members-truncated"),
    pytest.param(b"M[1, 2]", id="members-not-an-object"),
    pytest.param(b'M{"at": 1}', id="members-missing-fields"),
    pytest.param(encode_record(Members(3, MEMBERSHIP)).replace(b'"alpha":8', b'"alpha":"x"'),
                 id="members-alpha-not-a-number"),
    pytest.param(encode_record(Members(3, MEMBERSHIP)).replace(b'"at":3', b'"at":Infinity'),
                 id="members-infinite-number"),
    pytest.param(b"M" + b"[" * 100_000, id="members-nested-too-deep"),
    pytest.param(b"M\xff\xfe\x00", id="members-not-utf8"),
    pytest.param(b"P" + struct.pack(">Qq", 1, -2), id="promise-impossible-priest"),
    pytest.param(b"V" + struct.pack(">Qq", 1, -9) + ENTRY, id="votes-impossible-priest"),
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
    with pytest.raises(CorruptRecord, match=r"wrong length 15"):
        decode_record(b"P" + BALLOT[:-1])
    with pytest.raises(CorruptRecord, match=r"record kind b'I'"):
        decode_record(b"I" + struct.pack(">QQ", 3, 0) + b"\xff")
    with pytest.raises(CorruptRecord, match=r"members record"):
        decode_record(b"M{}")


def test_a_members_record_keeps_every_membership_the_law_decided() -> None:
    """Compaction writes the membership the archived law decided; restoring reads back each
    configuration with its first decree number, the pending change and where it passed."""
    again = decode_record(encode_record(Members(20, MEMBERSHIP)))
    assert isinstance(again, Members) and again.at == 20
    m = again.membership
    assert (m.genesis, m.alpha, m.pending_until, m.changed_at, m.taken) == ("g1", 8, 13, 5, 1)
    assert m.configs == MEMBERSHIP.configs
    assert m.at(12, known=20) == frozenset({0xABC, 0xDEF, 7})
    assert m.at(13, known=20) == frozenset({0xABC, 7})
    noted = Membership("g1", 8, list(MEMBERSHIP.configs), void=[(9, "one at a time")])
    assert decode_record(encode_record(Members(1, noted))).membership.void == []   # not kept


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
        assert isinstance(again, (Identity, Passed, Votes)), cut
        if isinstance(again, (Passed, Votes)):
            assert again.entries == record.entries[: len(again.entries)]


# ---------------------------------------------------------------- properties

packed_ballots = st.builds(Ballot, st.integers(0, 2**64 - 1), st.integers(-1, 2**63 - 1))
decrees = st.builds(Decree, st.text(max_size=10), st.binary(max_size=30))
entries = st.lists(st.tuples(st.integers(0, 2**64 - 1), decrees), max_size=5).map(tuple)
identities = st.integers(1, 2**48 - 1)
memberships = st.builds(
    Membership, st.text("abc123", min_size=1, max_size=8), st.integers(1, 2**20),
    st.lists(st.tuples(st.integers(0, 2**40), st.frozensets(identities, min_size=1, max_size=5)),
             min_size=1, max_size=4),
    st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**20))
records = st.one_of(
    st.builds(Identity, st.text(max_size=20), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
    st.builds(Members, st.integers(0, 2**64 - 1), memberships),
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
    assert isinstance(record, (Identity, Members, Promise, Tried, Votes, Passed, Archived))


@given(st.binary(max_size=80))
def test_property_random_bytes_decode_or_raise_corrupt(data: bytes) -> None:
    _decodes_or_corrupt(data)


@given(st.sampled_from([b"I", b"M", b"P", b"T", b"V", b"L", b"A"]), st.binary(max_size=80))
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
