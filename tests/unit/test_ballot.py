"""Ballot numbers (B1): ordered by round then priest, unique per priest, text round trip."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paxos_redis.protocol import ZERO, Ballot, ProtocolError

rounds = st.integers(min_value=0, max_value=2**64 - 2)
priests = st.integers(min_value=-1, max_value=2**63 - 1)
ballots = st.builds(Ballot, rounds, priests)
#: a priest's identity: drawn at random from [1, 2**48) when its ledger is made
identities = st.integers(min_value=1, max_value=2**48 - 1)


# ---------------------------------------------------------------- ordering


def test_round_is_compared_before_priest() -> None:
    assert Ballot(1, 0) > Ballot(0, 99)
    assert Ballot(2, 5) > Ballot(2, 4)
    assert Ballot(2, 5) == Ballot(2, 5)
    assert sorted([Ballot(1, 3), Ballot(0, 9), Ballot(1, 0), Ballot(0, 0)]) == [
        Ballot(0, 0), Ballot(0, 9), Ballot(1, 0), Ballot(1, 3)]


@given(ballots, ballots)
def test_order_is_lexicographic_on_round_then_priest(a: Ballot, b: Ballot) -> None:
    assert (a < b) == ((a.round, a.priest) < (b.round, b.priest))
    assert (a == b) == ((a.round, a.priest) == (b.round, b.priest))


def test_ballots_are_frozen_and_hashable() -> None:
    b = Ballot(3, 1)
    with pytest.raises(AttributeError):
        b.round = 4  # type: ignore[misc]
    assert {Ballot(3, 1): "x"}[b] == "x"


def test_zero_is_below_every_real_ballot() -> None:
    assert ZERO == Ballot(0, -1)
    for b in (Ballot(0, 0), Ballot(0, 1), Ballot(1, 0), Ballot(10**9, 7)):
        assert ZERO < b
    assert ZERO.successor(0) > ZERO


@given(rounds, identities)
def test_zero_is_below_any_ballot_a_priest_can_own(rnd: int, priest: int) -> None:
    assert ZERO < Ballot(rnd, priest)


# ---------------------------------------------------------------- successor (B1)


@given(ballots, identities)
def test_successor_is_above_and_owned_by_the_priest(b: Ballot, priest: int) -> None:
    s = b.successor(priest)
    assert s > b
    assert s.priest == priest


@given(ballots, identities)
def test_successor_is_the_lowest_ballot_of_that_priest_above(b: Ballot, priest: int) -> None:
    s = b.successor(priest)
    for rnd in range(max(0, b.round - 1), b.round + 2):
        candidate = Ballot(rnd, priest)
        if candidate > b:
            assert candidate >= s


def test_successor_examples() -> None:
    assert Ballot(3, 1).successor(2) == Ballot(3, 2)
    assert Ballot(3, 1).successor(1) == Ballot(4, 1)
    assert Ballot(3, 1).successor(0) == Ballot(4, 0)
    assert ZERO.successor(0) == Ballot(0, 0)


@given(st.lists(ballots, min_size=1, max_size=8))
def test_b1_no_two_priests_ever_pick_the_same_ballot(seen: list[Ballot]) -> None:
    """Whatever each priest has seen, the ballots they start are pairwise distinct."""
    starts = {priest: seen[priest % len(seen)].successor(priest) for priest in range(8)}
    assert len(set(starts.values())) == len(starts)


def test_b1_successive_ballots_of_one_priest_strictly_increase() -> None:
    b = ZERO
    started = []
    for _ in range(20):
        b = b.successor(2)
        started.append(b)
    assert started == sorted(started)
    assert len(set(started)) == len(started)


def test_b1_interleaved_priests_never_collide() -> None:
    """Priests leapfrogging each other (each starting above the highest seen) stay unique."""
    highest, started = ZERO, []
    for priest in itertools.islice(itertools.cycle([0, 2, 1, 2, 0, 1]), 60):
        highest = highest.successor(priest)
        started.append(highest)
    assert len(set(started)) == len(started)
    assert started == sorted(started)


# ---------------------------------------------------------------- text


@given(ballots)
def test_encode_parse_round_trip(b: Ballot) -> None:
    text = b.encode()
    assert Ballot.parse(text) == b
    assert str(b) == text


def test_encode_format() -> None:
    assert Ballot(12, 3).encode() == "12.3"
    assert ZERO.encode() == "0.-1"
    assert Ballot.parse("0.-1") is not None and Ballot.parse("0.-1") == ZERO


@pytest.mark.parametrize("text", [
    "", ".", "1", "1.", ".1", "1.2.3", "a.b", "1.b", "a.1", "1,2", "-1.0", "0.-2", "1.2 3",
    "1e3.1", "0x1.1", "..",
])
def test_parse_rejects_malformed_text_with_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        Ballot.parse(text)
    assert repr(text) in str(info.value)


def test_parse_error_quotes_the_text() -> None:
    with pytest.raises(ProtocolError, match=r"'round\.priest'.*'x\.y'"):
        Ballot.parse("x.y")
    with pytest.raises(ProtocolError, match=r"'1\.2\.3'"):
        Ballot.parse("1.2.3")


@pytest.mark.parametrize("text", [" 1.2", "1.2 ", "+1.2", "1_0.2", "\u0663.1"])
def test_parse_accepts_only_canonical_decimal(text: str) -> None:
    with pytest.raises(ProtocolError):
        Ballot.parse(text)


# ---------------------------------------------------------------- construction


@pytest.mark.parametrize("rnd, priest", [
    (-1, 0), (0, -2), (True, 0), (0, False), (1.0, 0), (0, 1.5), ("1", 0), (0, None),
])
def test_invalid_construction_raises_protocol_error(rnd: object, priest: object) -> None:
    with pytest.raises(ProtocolError) as info:
        Ballot(rnd, priest)  # type: ignore[arg-type]
    assert ("round" in str(info.value)) or ("priest" in str(info.value))


def test_invalid_construction_names_the_value() -> None:
    with pytest.raises(ProtocolError, match=r"round must be an int in \[0, 2\*\*64\), got -3"):
        Ballot(-3, 0)
    with pytest.raises(ProtocolError, match=r"priest must be an int in \[-1, 2\*\*63\), got -7"):
        Ballot(0, -7)
    with pytest.raises(ProtocolError, match=r"got 9223372036854775808"):
        Ballot(0, 2**63)
    assert Ballot(0, 2**63 - 1).priest == 2**63 - 1
