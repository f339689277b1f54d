"""keys.py: every Redis key of a parliament, under one prefix and one cluster slot."""

from __future__ import annotations

import dataclasses

import pytest
from redis.crc import key_slot

from paxos_redis.messengers.keys import PRIEST_GROUP, Keys
from paxos_redis.protocol import name, parse_name

#: two priests' identities (random 48-bit numbers in a running parliament)
P, Q = 0x0A11_0000_0001, 0xFFFF_FFFF_FFFF


def all_keys(keys: Keys) -> list[str]:
    return [
        keys.inbox(P), keys.inbox(Q), keys.petitions(), keys.replies("citizen-42"),
        keys.deadletter(), keys.stats(), keys.heartbeat(P), keys.heartbeat(Q), keys.config(),
        keys.president(), keys.claim(P), keys.claim(Q), keys.roster(), keys.stamps(),
        keys.election(),
    ]


def test_every_key_is_under_the_prefix_with_the_hash_tag() -> None:
    keys = Keys("senate")
    assert keys.prefix == "paxos:{senate}:"
    for key in all_keys(keys):
        assert key.startswith("paxos:{senate}:"), key


def test_keys_are_distinct() -> None:
    names = all_keys(Keys("senate"))
    assert len(set(names)) == len(names)


def test_every_key_of_a_parliament_hashes_to_one_cluster_slot() -> None:
    keys = Keys("senate")
    slots = {key_slot(key.encode()) for key in all_keys(keys)}
    assert slots == {key_slot(b"senate")}


def test_two_parliaments_share_no_key() -> None:
    assert not set(all_keys(Keys("senate"))) & set(all_keys(Keys("senate2")))


def test_examples_are_readable() -> None:
    keys = Keys("paxos.island-1_a")
    assert keys.inbox(3) == "paxos:{paxos.island-1_a}:inbox:000000000003"
    assert keys.replies("c1") == "paxos:{paxos.island-1_a}:replies:c1"
    assert keys.claim(P) == "paxos:{paxos.island-1_a}:claim:0a1100000001"
    assert keys.heartbeat(Q) == "paxos:{paxos.island-1_a}:heartbeat:ffffffffffff"
    assert keys.roster() == "paxos:{paxos.island-1_a}:roster"
    assert keys.pattern() == "paxos:{paxos.island-1_a}:*"


def test_a_priest_is_named_by_twelve_hex_digits_that_read_back() -> None:
    assert name(P) == "0a1100000001" and parse_name(name(P)) == P
    assert Keys("senate").inbox(P).rsplit(":", 1)[1] == name(P)


@pytest.mark.parametrize(
    "name", ["", "a" * 65, "sen ate", "sen{ate}", "sen:ate", "sénat", "a/b", None, 7]
)
def test_invalid_parliament_names_are_refused_clearly(name: object) -> None:
    with pytest.raises(ValueError, match="invalid parliament name .*1 to 64 characters"):
        Keys(name)  # type: ignore[arg-type]


def test_longest_valid_name_is_accepted() -> None:
    assert Keys("a" * 64).parliament == "a" * 64


@pytest.mark.parametrize("priest", [0, -1, 1 << 48, 1.0, "1", True, None])
def test_invalid_identities_are_refused(priest: object) -> None:
    keys = Keys("senate")
    for build in (keys.inbox, keys.heartbeat, keys.claim):
        with pytest.raises(ValueError, match="invalid priest identity"):
            build(priest)  # type: ignore[arg-type]


@pytest.mark.parametrize("citizen", ["", "a b", "x" * 129, "{x}", None])
def test_invalid_citizen_ids_are_refused(citizen: object) -> None:
    with pytest.raises(ValueError, match="invalid citizen id"):
        Keys("senate").replies(citizen)  # type: ignore[arg-type]


def test_keys_is_frozen_and_hashable() -> None:
    keys = Keys("senate")
    with pytest.raises(dataclasses.FrozenInstanceError):
        keys.parliament = "other"  # type: ignore[misc]
    assert {keys: 1}[Keys("senate")] == 1


def test_group_names() -> None:
    assert PRIEST_GROUP == "priests" and Keys.PRIEST_GROUP == PRIEST_GROUP
