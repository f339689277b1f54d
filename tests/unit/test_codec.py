"""The codec between messages and stream fields: round trips and malformed input."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paxos_redis.errors import ProtocolError
from paxos_redis.protocol import (
    ZERO,
    Ballot,
    BeginBallot,
    Decree,
    FailedBallot,
    Inquiry,
    LastVote,
    MalformedMessage,
    NextBallot,
    Petition,
    SuccessfulBallot,
    Transcript,
    Voted,
    VoteNo,
    decode,
    encode,
)
from paxos_redis.protocol.codec import (
    pack_decrees,
    pack_entries,
    pack_ids,
    pack_numbers,
    pack_votes,
    unpack_decrees,
    unpack_entries,
    unpack_ids,
    unpack_numbers,
    unpack_votes,
)
from paxos_redis.protocol.decree import KEEP_WIRE
from paxos_redis.protocol.messages import BY_CODE

# ---------------------------------------------------------------- sample messages

BINARY = Decree("p-\u00e9\u2713", b"\x00\xff\xfe\x80nul\x00\x00tail\xc3\x28")
A, B, C = Decree("a", b"alpha"), Decree("b", b""), Decree("", b"")
BAL, HIGH = Ballot(3, 1), Ballot(7, 2)

SAMPLES: dict[type, Any] = {
    NextBallot: NextBallot(1, BAL, 4, 2),
    BeginBallot: BeginBallot(1, BAL, 4, ((4, A), (5, BINARY), (9, C))),
    SuccessfulBallot: SuccessfulBallot(1, BAL, 6, ((4, A), (5, BINARY))),
    FailedBallot: FailedBallot(1, BAL, 4),
    LastVote: LastVote(2, BAL, 3, 1, ((3, Ballot(2, 0), BINARY), (4, ZERO, A)), ((1, B), (2, C))),
    Voted: Voted(2, BAL, 4, (4, 5, 2**64 - 1)),
    VoteNo: VoteNo(2, BAL, 4, HIGH),
    Inquiry: Inquiry(0, 12),
    Transcript: Transcript(1, 14, ((12, A), (13, BINARY))),
    Petition: Petition(2, 0, (A, BINARY, C)),
}
EMPTY: dict[type, Any] = {
    BeginBallot: BeginBallot(1, BAL, 0, ()),
    SuccessfulBallot: SuccessfulBallot(1, BAL, 0, ()),
    LastVote: LastVote(2, BAL, 0, 0, (), ()),
    Voted: Voted(2, BAL, 0, ()),
    Transcript: Transcript(1, 0, ()),
    Petition: Petition(2, 0, ()),
}
ALL = list(SAMPLES.values())
IDS = [type(m).__name__ for m in ALL]

#: every field each message kind must carry (besides role and code)
LAYOUT = {
    NextBallot: {"from", "ballot", "known", "n"},
    BeginBallot: {"from", "ballot", "known", "decree"},
    SuccessfulBallot: {"from", "ballot", "known", "decree"},
    FailedBallot: {"from", "ballot", "known"},
    LastVote: {"from", "ballot", "known", "n", "votes", "passed"},
    Voted: {"from", "ballot", "known", "numbers"},
    VoteNo: {"from", "ballot", "known", "promise"},
    Inquiry: {"from", "ballot", "known"},
    Transcript: {"from", "ballot", "known", "decree"},
    Petition: {"from", "ballot", "known", "decrees"},
}
BINARY_FIELDS = {"decree", "votes", "passed", "numbers", "decrees"}


def test_a_successful_ballot_names_voted_numbers_only_when_it_has_them() -> None:
    plain = SuccessfulBallot(1, BAL, 6, ((4, A),))
    assert b"voted" not in encode(plain)
    told = SuccessfulBallot(1, BAL, 6, (), (4, 5))
    assert decode(encode(told)) == told
    fields = {**encode(told), b"voted": b"\x00\x01"}           # not whole 8-byte numbers
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "voted"


def test_samples_cover_every_message_class() -> None:
    assert set(SAMPLES) == set(BY_CODE.values()) == set(LAYOUT)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("message", ALL, ids=IDS)
def test_round_trip_every_message_class(message: Any) -> None:
    fields = encode(message)
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in fields.items())
    assert decode(fields) == message
    assert type(decode(fields)) is type(message)


@pytest.mark.parametrize("message", ALL, ids=IDS)
def test_encoding_carries_the_seed_codes_and_exactly_its_fields(message: Any) -> None:
    fields = encode(message)
    assert fields[b"role"] == type(message).role.encode()
    assert fields[b"code"] == str(type(message).code).encode()
    assert {k.decode() for k in fields} == LAYOUT[type(message)] | {"role", "code"}


def test_wire_codes_are_the_seeds() -> None:
    assert {(cls.role, cls.code): cls.__name__ for cls in BY_CODE.values()} == {
        ("president", 1): "NextBallot", ("president", 2): "BeginBallot",
        ("president", 3): "SuccessfulBallot", ("president", 4): "FailedBallot",
        ("priest", 1): "LastVote", ("priest", 2): "Voted", ("priest", 3): "VoteNo",
        ("clerk", 1): "Inquiry", ("clerk", 2): "Transcript", ("clerk", 3): "Petition",
    }


def test_role_tells_same_codes_apart() -> None:
    """Code 1 means next ballot from a president, last vote from a priest, inquiry from a clerk."""
    assert encode(SAMPLES[NextBallot])[b"code"] == encode(SAMPLES[LastVote])[b"code"] == b"1"
    assert isinstance(decode(encode(SAMPLES[NextBallot])), NextBallot)
    assert isinstance(decode(encode(SAMPLES[LastVote])), LastVote)
    assert isinstance(decode(encode(SAMPLES[Inquiry])), Inquiry)


@pytest.mark.parametrize("message", list(EMPTY.values()), ids=[c.__name__ for c in EMPTY])
def test_round_trip_empty_batches(message: Any) -> None:
    fields = encode(message)
    for name in BINARY_FIELDS & {k.decode() for k in fields}:
        assert fields[name.encode()] == b""
    assert decode(fields) == message


def test_round_trip_binary_bodies_with_nul_and_non_utf8() -> None:
    bodies = [b"\x00", b"\x00" * 100, b"\xff\xfe\xfd", bytes(range(256)), b"\xc3\x28\x00\x80"]
    message = BeginBallot(0, BAL, 0, tuple((n, Decree(f"id{n}", b)) for n, b in enumerate(bodies)))
    again = decode(encode(message))
    assert [d.body for _, d in again.entries] == bodies


def test_round_trip_large_batches() -> None:
    entries = tuple((n, Decree(f"petition-{n}", bytes([n % 256]) * (n % 50))) for n in range(4000))
    votes = tuple((n, Ballot(n, n % 5), d) for n, d in entries)
    for message in (
        BeginBallot(0, BAL, 0, entries),
        SuccessfulBallot(0, BAL, 0, entries),
        Transcript(0, 4000, entries),
        LastVote(1, BAL, 0, 0, votes, entries),
        Voted(1, BAL, 0, tuple(range(4000))),
        Petition(1, 0, tuple(d for _, d in entries)),
    ):
        assert decode(encode(message)) == message


def test_round_trip_extreme_scalars() -> None:
    big = 2**64 - 2
    message = VoteNo(big, Ballot(2**62 - 1, 2**63 - 1), big, Ballot(2**62, 0))
    assert decode(encode(message)) == message
    assert decode(encode(Inquiry(0, 0, ZERO))) == Inquiry(0, 0, ZERO)


def test_a_begin_ballot_names_its_receipt_with_the_members_it_counts_in() -> None:
    """``receipt`` is ``(n, citizen, of)``: the citizen counts receipts out of ``of`` members."""
    message = BeginBallot(0x1234_5678_9ABC, Ballot(3, 0x1234_5678_9ABC), 4, ((4, A),), (4, "c-1", 5))
    fields = encode(message)
    assert fields[b"receipt"] == b"4 c-1 5"
    assert decode(fields) == message
    assert b"receipt" not in encode(SAMPLES[BeginBallot])
    for bad in (b"4 c-1", b"4 c-1 5 6", b"4 c 1 5", b"x c-1 5", b"4 c-1 x", b"4 c/1 5"):
        with pytest.raises(MalformedMessage) as info:
            decode({**fields, b"receipt": bad})
        assert info.value.field == "receipt"


def test_clerk_messages_default_to_ballot_zero() -> None:
    fields = encode(Inquiry(3, 9))
    assert fields[b"ballot"] == b"0.-1"
    assert decode(fields).ballot == ZERO


# ---------------------------------------------------------------- what redis-py returns


def _as_str(fields: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode("utf-8") for k, v in fields.items()}


ASCII_SAMPLES = [
    NextBallot(1, BAL, 4, 2), FailedBallot(1, BAL, 4), VoteNo(2, BAL, 4, HIGH), Inquiry(0, 12),
    BeginBallot(1, BAL, 4, ((4, A), (5, Decree("x", b"plain text")))),
    Voted(2, BAL, 4, (4, 5)),
]


@pytest.mark.parametrize("message", ASCII_SAMPLES, ids=lambda m: type(m).__name__)
def test_decode_accepts_str_keys_and_values(message: Any) -> None:
    """redis-py with decode_responses=True hands back str keys and values."""
    assert decode(_as_str(encode(message))) == message


@pytest.mark.parametrize("message", ALL, ids=IDS)
def test_decode_accepts_str_keys_with_bytes_values(message: Any) -> None:
    fields = {k.decode(): v for k, v in encode(message).items()}
    assert decode(fields) == message


@pytest.mark.parametrize("message", ALL, ids=IDS)
def test_decode_accepts_bytearray_and_memoryview_values(message: Any) -> None:
    fields = encode(message)
    assert decode({k: bytearray(v) for k, v in fields.items()}) == message
    assert decode({k: memoryview(v) for k, v in fields.items()}) == message


def test_decode_accepts_mixed_key_types() -> None:
    fields: dict[Any, Any] = dict(encode(SAMPLES[VoteNo]))
    fields["ballot"] = fields.pop(b"ballot").decode()
    fields["promise"] = fields.pop(b"promise")
    assert decode(fields) == SAMPLES[VoteNo]


@pytest.mark.parametrize("message", ALL, ids=IDS)
def test_extra_unknown_fields_are_ignored(message: Any) -> None:
    fields: dict[Any, Any] = dict(encode(message))
    fields[b"parliament"] = b"senate"
    fields[b"auth"] = b"\x00\xffsignature"
    fields["zzz"] = "whatever"
    fields[b"n" if b"n" not in fields else b"numbers_x"] = b"not-a-number"
    assert decode(fields) == message


# ---------------------------------------------------------------- malformed input

MISSING = [
    pytest.param(cls, name, id=f"{cls.__name__}-{name}")
    for cls, names in LAYOUT.items() for name in sorted(names | {"role", "code"})
]


@pytest.mark.parametrize("cls, name", MISSING)
def test_missing_field_is_named(cls: type, name: str) -> None:
    fields = dict(encode(SAMPLES[cls]))
    del fields[name.encode()]
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == name
    assert "missing" in info.value.problem


@pytest.mark.parametrize("cls, name", MISSING)
def test_none_value_counts_as_missing(cls: type, name: str) -> None:
    fields: dict[bytes, Any] = dict(encode(SAMPLES[cls]))
    fields[name.encode()] = None
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == name


@pytest.mark.parametrize("cls, name", MISSING)
@pytest.mark.parametrize("value", [7, 1.5, ["1"], object()], ids=["int", "float", "list", "obj"])
def test_wrong_value_type_is_named(cls: type, name: str, value: object) -> None:
    fields: dict[bytes, Any] = dict(encode(SAMPLES[cls]))
    fields[name.encode()] = value
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == name
    assert type(value).__name__ in info.value.problem


def test_malformed_message_is_a_protocol_error_with_readable_text() -> None:
    fields = dict(encode(SAMPLES[NextBallot]))
    del fields[b"known"]
    with pytest.raises(ProtocolError, match=r"malformed message field 'known': missing"):
        decode(fields)


@pytest.mark.parametrize("code", [b"0", b"5", b"9", b"99", b"18446744073709551617"])
def test_unknown_code_for_a_known_role(code: bytes) -> None:
    fields = dict(encode(SAMPLES[NextBallot]))
    fields[b"code"] = code
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "code"
    assert code.decode() in info.value.problem


@pytest.mark.parametrize("role", [b"citizen", b"", b"President", b"\xff\xfe", b"god"])
def test_unknown_role(role: bytes) -> None:
    fields = dict(encode(SAMPLES[NextBallot]))
    fields[b"role"] = role
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field in ("role", "code")
    assert "role" in info.value.problem


@pytest.mark.parametrize("code", [b"", b"x", b"-1", b"1.0", b" 1", b"1 ", b"+1", b"0x1", b"\xd9\xa3"])
def test_non_numeric_code(code: bytes) -> None:
    fields = dict(encode(SAMPLES[VoteNo]))
    fields[b"code"] = code
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "code"


@pytest.mark.parametrize("name", ["from", "known", "n"])
@pytest.mark.parametrize("value", [b"", b"-1", b"x", b"1.5", b" 3", b"1_0", b"\xff"])
def test_bad_integer_fields(name: str, value: bytes) -> None:
    fields = dict(encode(SAMPLES[NextBallot]))
    fields[name.encode()] = value
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == name


@pytest.mark.parametrize("cls", list(LAYOUT), ids=lambda c: c.__name__)
@pytest.mark.parametrize("text", [b"", b"1", b"1.2.3", b"a.b", b"-1.0", b"0.-2", b"\xff.1", b"1..2"])
def test_bad_ballot_text(cls: type, text: bytes) -> None:
    fields = dict(encode(SAMPLES[cls]))
    fields[b"ballot"] = text
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "ballot"


def test_bad_promise_ballot() -> None:
    fields = dict(encode(SAMPLES[VoteNo]))
    fields[b"promise"] = b"seven"
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "promise"


ONE_OF_EACH_BATCH = [
    (BeginBallot(0, BAL, 0, ((3, A),)), "decree"),
    (SuccessfulBallot(0, BAL, 0, ((3, BINARY),)), "decree"),
    (Transcript(0, 0, ((3, A),)), "decree"),
    (LastVote(0, BAL, 0, 0, ((1, BAL, A),), ()), "votes"),
    (LastVote(0, BAL, 0, 0, (), ((1, BINARY),)), "passed"),
    (Voted(0, BAL, 0, (1,)), "numbers"),
    (Petition(0, 0, (BINARY,)), "decrees"),
]


@pytest.mark.parametrize("message, name", ONE_OF_EACH_BATCH,
                         ids=[f"{type(m).__name__}-{n}" for m, n in ONE_OF_EACH_BATCH])
def test_truncated_binary_batches(message: Any, name: str) -> None:
    fields = encode(message)
    packed = fields[name.encode()]
    assert len(packed) > 1
    for cut in range(1, len(packed)):
        broken = dict(fields)
        broken[name.encode()] = packed[:cut]
        with pytest.raises(MalformedMessage) as info:
            decode(broken)
        assert info.value.field == name, cut


@pytest.mark.parametrize("message, name", ONE_OF_EACH_BATCH,
                         ids=[f"{type(m).__name__}-{n}" for m, n in ONE_OF_EACH_BATCH])
def test_trailing_garbage_in_binary_batches(message: Any, name: str) -> None:
    fields = dict(encode(message))
    fields[name.encode()] += b"\x00\x01\x02"
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == name


@pytest.mark.parametrize("data", [
    pack_entries(((1, A),))[:12] + b"",                       # header says 6 bytes, none follow
    b"\x00" * 8 + b"\x00\x00\x00\x00",                        # decree of length 0: no id byte
    b"\x00" * 8 + b"\x00\x00\x00\x02" + b"\x05a",             # id length runs past the decree
    b"\x00" * 8 + b"\x00\x00\x00\x03" + b"\x02\xff\xfe",      # id not UTF-8
], ids=["no-body", "empty-decree", "id-too-long", "id-not-utf8"])
def test_bad_decree_inside_an_entry(data: bytes) -> None:
    fields = dict(encode(BeginBallot(0, BAL, 0, ())))
    fields[b"decree"] = data
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "decree"


def test_vote_with_impossible_ballot_priest() -> None:
    good = pack_votes(((1, Ballot(1, 0), A),))
    bad = good[:16] + (-2).to_bytes(4, "big", signed=True) + good[20:]
    fields = dict(encode(LastVote(0, BAL, 0, 0, (), ())))
    fields[b"votes"] = bad
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "votes"


@pytest.mark.parametrize("value", [None, [], [(b"role", b"priest")], b"role=priest", 42, "x"],
                         ids=["None", "list", "pairs", "bytes", "int", "str"])
def test_non_mapping_input(value: Any) -> None:
    with pytest.raises(MalformedMessage) as info:
        decode(value)
    assert info.value.field == "*"
    assert type(value).__name__ in info.value.problem


def test_surrogate_in_a_body_field_is_malformed() -> None:
    fields: dict[Any, Any] = dict(encode(SAMPLES[NextBallot]))
    fields[b"from"] = "\ud800"
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "from"


def test_overlong_code_is_malformed() -> None:
    fields = dict(encode(SAMPLES[NextBallot]))
    fields[b"code"] = b"1" * 5000
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "code"


def test_overlong_integer_field_is_malformed() -> None:
    fields = dict(encode(SAMPLES[NextBallot]))
    fields[b"known"] = b"1" * 5000
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "known"


@pytest.mark.parametrize("name", ["role", "code"])
def test_surrogate_in_role_or_code_is_malformed(name: str) -> None:
    fields: dict[Any, Any] = dict(encode(SAMPLES[NextBallot]))
    fields[name.encode()] = "\udcff"
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == name


# ---------------------------------------------------------------- batch helpers


def test_pack_helpers_round_trip() -> None:
    entries = ((0, A), (2**64 - 1, BINARY))
    votes = ((5, ZERO, A), (6, Ballot(2**63, 2**63 - 1), C), (7, Ballot(1, (1 << 48) - 1), B))
    assert unpack_entries(pack_entries(entries)) == entries
    assert unpack_votes(pack_votes(votes)) == votes
    assert unpack_numbers(pack_numbers((0, 1, 2**64 - 1))) == (0, 1, 2**64 - 1)
    assert unpack_decrees(pack_decrees((A, B, C, BINARY))) == (A, B, C, BINARY)
    assert unpack_entries(b"") == unpack_votes(b"") == unpack_numbers(b"") == unpack_decrees(b"")


# ---------------------------------------------------------------- properties

ints = st.integers(min_value=0, max_value=2**64 - 1)
numbers = st.integers(min_value=0, max_value=2**64 - 1)
#: a ballot's priest is an identity (random, below 2**48), ZERO's -1, or anything up to 2**63
packed_ballots = st.builds(Ballot, st.integers(0, 2**64 - 1), st.integers(-1, 2**63 - 1))
text_ballots = st.builds(Ballot, st.integers(0, 2**62), st.integers(-1, 2**63 - 1))
receipts = st.tuples(numbers, st.from_regex(r"[A-Za-z0-9_.:\-]{1,20}", fullmatch=True),
                     st.integers(1, 64))


def test_ballot_rounds_near_the_end_of_the_number_space_are_refused() -> None:
    fields = encode(VoteNo(0, Ballot(2**62 + 1, 0), 0, ZERO))
    with pytest.raises(MalformedMessage) as info:
        decode(fields)
    assert info.value.field == "ballot"
decrees = st.builds(Decree, st.text(max_size=12), st.binary(max_size=40))
entries = st.lists(st.tuples(numbers, decrees), max_size=6).map(tuple)
votes = st.lists(st.tuples(numbers, packed_ballots, decrees), max_size=6).map(tuple)

messages = st.one_of(
    st.builds(NextBallot, ints, text_ballots, ints, ints),
    st.builds(BeginBallot, ints, text_ballots, ints, entries),
    st.builds(BeginBallot, ints, text_ballots, ints, entries, receipts),
    st.builds(SuccessfulBallot, ints, text_ballots, ints, entries),
    st.builds(SuccessfulBallot, ints, text_ballots, ints, entries,
              st.lists(numbers, max_size=8).map(tuple)),
    st.builds(FailedBallot, ints, text_ballots, ints),
    st.builds(LastVote, ints, text_ballots, ints, ints, votes, entries),
    st.builds(Voted, ints, text_ballots, ints, st.lists(numbers, max_size=8).map(tuple)),
    st.builds(VoteNo, ints, text_ballots, ints, text_ballots),
    st.builds(Inquiry, ints, ints, text_ballots),
    st.builds(Transcript, ints, ints, entries, text_ballots),
    st.builds(Petition, ints, ints, st.lists(decrees, max_size=6).map(tuple), text_ballots),
)


@given(messages)
def test_property_round_trip(message: Any) -> None:
    assert decode(encode(message)) == message


@given(messages)
def test_property_round_trip_with_str_keys(message: Any) -> None:
    assert decode({k.decode(): v for k, v in encode(message).items()}) == message


NAMES = ["role", "code", "from", "ballot", "known", "n", "promise", "decree", "votes", "passed",
         "numbers", "decrees", "other"]
keys = st.sampled_from(NAMES).flatmap(lambda n: st.sampled_from([n, n.encode()]))
values = st.one_of(
    st.binary(max_size=40), st.text(max_size=20), st.none(), st.integers(),
    st.sampled_from([b"president", b"priest", b"clerk", b"1", b"2", b"3", b"4", b"0.-1", b"3.1",
                     b"", b"12"]),
)


def _decodes_or_malformed(fields: Any) -> None:
    try:
        message = decode(fields)
    except MalformedMessage as exc:
        assert isinstance(exc.field, str) and exc.field
    else:
        assert type(message) in set(BY_CODE.values())


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=12))
def test_property_random_fields_decode_or_raise_malformed(fields: dict[Any, Any]) -> None:
    _decodes_or_malformed(fields)


@given(messages, st.data())
def test_property_mutated_encodings_decode_or_raise_malformed(message: Any, data: Any) -> None:
    """Start from a real encoding and corrupt, drop or retype some of its fields."""
    fields: dict[Any, Any] = dict(encode(message))
    for key in data.draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True)):
        action = data.draw(st.sampled_from(["drop", "flip", "cut", "grow", "replace"]))
        value = fields[key]
        if action == "drop":
            del fields[key]
        elif action == "flip" and value:
            i = data.draw(st.integers(0, len(value) - 1))
            fields[key] = value[:i] + bytes([value[i] ^ data.draw(st.integers(1, 255))]) + value[i + 1:]
        elif action == "cut":
            fields[key] = value[: data.draw(st.integers(0, len(value)))]
        elif action == "grow":
            fields[key] = value + data.draw(st.binary(min_size=1, max_size=16))
        else:
            fields[key] = data.draw(values)
    _decodes_or_malformed(fields)


# ---------------------------------------------------------------- petition ids alone


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.text(max_size=60)), max_size=20))
def test_ids_pack_as_entries_of_empty_decrees(pairs: list[tuple[int, str]]) -> None:
    entries = tuple((n, Decree(pid, b"")) for n, pid in pairs)
    assert pack_ids(pairs) == pack_entries(entries)
    assert unpack_ids(pack_entries(entries)) == pairs


@pytest.mark.parametrize("data", [
    b"\x00" * 11,                                            # header cut short
    pack_ids([(1, "abc")])[:-1],                             # id cut short
    pack_ids([(1, "abc")])[:8] + b"\x00\x00\x00\x00",        # an entry of no bytes
    pack_ids([(1, "abc")])[:12] + b"\x05abc",                # id longer than its entry
    pack_ids([(1, "ab")])[:13] + b"\xff\xfe",                # id not UTF-8
])
def test_malformed_ids_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        unpack_ids(data)



@pytest.mark.parametrize("size", [KEEP_WIRE - 1, KEEP_WIRE, KEEP_WIRE + 1, 20480])
def test_large_decrees_pack_to_the_same_bytes_as_their_encodings(size: int) -> None:
    """A decree too large to keep its encoding is packed from its head and body, in every
    packer: the same bytes as packing its encoding, and it reads back."""
    big, small = Decree("caf\u00e9", bytes(range(256)) * (size // 256)), Decree("s", b"small")
    entries = ((3, big), (4, small))
    votes = ((3, Ballot(2, 0x1234_5678_9ABC), big), (4, Ballot(2, 1), small))
    assert pack_entries(entries) == b"".join(
        struct.pack(">QI", n, len(d.encode())) + d.encode() for n, d in entries)
    assert pack_votes(votes) == b"".join(
        struct.pack(">QQqI", n, b.round, b.priest, len(d.encode())) + d.encode()
        for n, b, d in votes)
    assert pack_decrees((big, small)) == b"".join(
        struct.pack(">I", len(d.encode())) + d.encode() for d in (big, small))
    assert unpack_entries(pack_entries(entries)) == entries
    assert unpack_votes(pack_votes(votes)) == votes
    assert unpack_decrees(pack_decrees((big, small))) == (big, small)
