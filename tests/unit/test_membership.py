"""Membership is law: the founding, one change at a time, effective alpha decrees later; and
the policy that picks which change to ask for (protocol/membership.py, protocol/policy.py)."""

from __future__ import annotations

import pytest
from chamber import IDS, P0, P1, P2, P3, P4, make, unit_rules

from paxos_redis.protocol import (
    OLIVE_DAY,
    Ballot,
    Change,
    Decree,
    Founding,
    Law,
    LawConflict,
    Members,
    Membership,
    Priest,
    ProtocolError,
    SuccessfulBallot,
    decode_record,
    encode_record,
    name,
    parse_name,
)
from paxos_redis.protocol.compaction import compact
from paxos_redis.protocol.membership import ALPHA, MAX_MEMBERS, is_membership
from paxos_redis.protocol.policy import View, majority, plan, refusal
from paxos_redis.storage.archive import MemoryArchive

THREE = frozenset(IDS[:3])


def founded(members: tuple[int, ...] = IDS[:3], alpha: int = 4) -> Membership:
    m = Membership()
    assert m.apply(0, Founding("g1", alpha, members).decree())
    return m


def admit(priest: int, nonce: str = "n") -> Decree:
    return Change("admit", priest).decree(nonce)


def remove(priest: int, nonce: str = "n") -> Decree:
    return Change("remove", priest).decree(nonce)


# ---------------------------------------------------------------- names and decrees


def test_an_identity_is_written_as_twelve_hex_digits_and_read_back() -> None:
    assert name(1) == "000000000001" and name(0xFFFF_FFFF_FFFF) == "ffffffffffff"
    assert parse_name("000000000001") == 1 and parse_name("ff") == 255
    for bad in ("", "0", "xyz", "1000000000000", "0000000000001", "-1", None):
        with pytest.raises(ProtocolError, match="12 hex digits"):
            parse_name(bad)  # type: ignore[arg-type]


def test_a_founding_round_trips_through_its_decree() -> None:
    founding = Founding("g1", 16, (P2, P0, P1))
    decree = founding.decree()
    assert decree.petition == "!found:g1" and is_membership(decree.petition)
    assert decree.body == f"alpha=16 members={name(P0)},{name(P1)},{name(P2)}".encode()
    again = Founding.parse(decree)
    assert (again.genesis, again.alpha, set(again.members)) == ("g1", 16, {P0, P1, P2})
    assert Founding.parse(Decree(decree.petition, decree.body)) == again
    assert Founding("g", 1, (P0,)).alpha == 1 and Founding("g", ALPHA, IDS).members == IDS


@pytest.mark.parametrize("genesis, alpha, members, says", [
    ("", 4, (P0,), "genesis"),
    ("a b", 4, (P0,), "genesis"),
    ("g" * 33, 4, (P0,), "genesis"),
    ("g", 0, (P0,), "alpha"),
    ("g", (1 << 20) + 1, (P0,), "alpha"),
    ("g", 4, (), "1 to 64 distinct"),
    ("g", 4, (P0, P0), "1 to 64 distinct"),
    ("g", 4, tuple(range(1, MAX_MEMBERS + 2)), "1 to 64 distinct"),
    ("g", 4, (P0, 0), "out of range"),
    ("g", 4, (1 << 48,), "out of range"),
])
def test_a_bad_founding_is_refused(genesis: str, alpha: int, members: tuple[int, ...],
                                   says: str) -> None:
    with pytest.raises(ProtocolError, match=says):
        Founding(genesis, alpha, members)


@pytest.mark.parametrize("decree", [
    Decree("!found:g1", b"members=000000000001"),                   # no alpha
    Decree("!found:g1", b"alpha=4"),                                # no members
    Decree("!found:g1", b"alpha=four members=000000000001"),
    Decree("!found:g1", b"alpha=4 members=00000000000z"),
    Decree("!found:g1", b"alpha=4 members=000000000001,000000000001"),
    Decree("!found:g1", b"alpha=4 members"),
    Decree("!found:g1", b"\xff\xfe"),
    Decree("!found:", b"alpha=4 members=000000000001"),            # no genesis
    Decree("!members:admit:000000000001:n", b"alpha=4 members=000000000001"),
])
def test_a_malformed_founding_decree_is_a_protocol_error(decree: Decree) -> None:
    with pytest.raises(ProtocolError):
        Founding.parse(decree)


def test_a_change_round_trips_and_a_malformed_one_is_refused() -> None:
    decree = admit(P3, "x1")
    assert decree.petition == f"!members:admit:{name(P3)}:x1" and is_membership(decree.petition)
    assert Change.parse(decree) == Change("admit", P3)
    assert Change.parse(remove(P1)) == Change("remove", P1)
    assert not is_membership("citizen-1") and not is_membership("")
    with pytest.raises(ProtocolError, match="admit or remove"):
        Change("evict", P1)
    with pytest.raises(ProtocolError, match="out of range"):
        Change("admit", 0)
    for body in (b"admit", b"admit 1 2", b"evict 000000000001", b"admit zz", b"\xff"):
        with pytest.raises(ProtocolError):
            Change.parse(Decree("!members:x", body))


# ---------------------------------------------------------------- the rules of change


def test_founding_only_at_decree_0_and_once() -> None:
    m = Membership()
    assert not m.founded and m.at(0, 10) is None and m.latest() == frozenset()
    assert not m.apply(3, Founding("g1", 4, (P0,)).decree())        # not at decree 0: void
    assert not m.founded and "only at decree 0" in m.void[-1][1]
    assert not m.apply(1, admit(P0))                                 # nothing founded yet
    assert "not founded" in m.void[-1][1]
    m = founded()
    assert (m.genesis, m.alpha, m.configs) == ("g1", 4, [(0, THREE)])
    assert not m.apply(0, Founding("g2", 8, (P4,)).decree())        # a second founding
    assert m.genesis == "g1" and m.configs == [(0, THREE)]


def test_a_change_takes_effect_alpha_decrees_after_it_passed() -> None:
    m = founded(alpha=4)
    assert m.apply(2, admit(P3))
    assert (m.pending_until, m.changed_at, m.taken) == (6, 2, 1)
    assert m.configs == [(0, THREE), (6, THREE | {P3})] and m.latest() == THREE | {P3}
    assert m.at(5, known=3) == THREE                     # before the effective number
    assert m.at(6, known=3) == THREE | {P3}              # from it on
    assert m.at(100, known=98) == THREE | {P3}
    assert m.until(1, known=3) == 6 and m.until(6, known=3) == 7   # 7: known + alpha


def test_at_decides_nothing_beyond_known_plus_alpha() -> None:
    m = founded(alpha=4)
    assert m.at(4, known=1) == THREE and m.at(5, known=1) is None
    assert m.at(9, known=6) == THREE and m.at(10, known=6) is None


@pytest.mark.parametrize("change, says", [
    (admit(P1), "a member already"),
    (remove(P3), "not a member"),
])
def test_a_change_that_would_do_nothing_is_void(change: Decree, says: str) -> None:
    m = founded()
    assert not m.apply(1, change)
    assert m.configs == [(0, THREE)] and m.pending_until == 0
    assert m.void == [(1, m.void[0][1])] and says in m.void[0][1]


def test_the_last_member_cannot_be_removed() -> None:
    m = founded((P0,))
    assert not m.apply(1, remove(P0))
    assert "last member" in m.void[-1][1] and m.latest() == frozenset({P0})


def test_a_change_passed_while_another_is_pending_is_void() -> None:
    m = founded(alpha=4)
    assert m.apply(1, admit(P3))                         # pending until 5
    assert not m.apply(4, remove(P0))
    assert "one at a time" in m.void[-1][1]
    assert m.latest() == THREE | {P3} and m.pending_until == 5 and m.taken == 1
    assert m.apply(5, remove(P0)) and m.taken == 2                        # once the first one holds
    assert m.at(9, known=6) == frozenset({P1, P2, P3}) and m.at(8, known=6) == THREE | {P3}


def test_a_malformed_change_in_the_law_is_void_not_an_error() -> None:
    m = founded()
    assert not m.apply(1, Decree("!members:x", b"admit nobody"))
    assert not m.apply(2, Decree("citizen", b"admit 000000000001"))   # not a membership decree
    assert m.configs == [(0, THREE)] and len(m.void) == 1


def test_ahead_names_every_member_of_a_membership_in_range() -> None:
    m = founded(alpha=4)
    m.apply(1, remove(P2))                               # governs from 5
    assert m.ahead(known=2) == THREE                     # 2..5: both memberships
    assert m.ahead(known=5) == frozenset({P0, P1})


# ---------------------------------------------------------------- in the law, and in the ledger


def test_the_members_record_round_trips() -> None:
    m = founded(alpha=4)
    m.apply(1, admit(P3))
    again = decode_record(encode_record(Members(3, m.copy())))
    assert isinstance(again, Members) and again.at == 3
    assert again.membership.configs == m.configs
    assert (again.membership.genesis, again.membership.alpha) == ("g1", 4)
    assert (again.membership.pending_until, again.membership.changed_at) == (5, 1)
    assert again.membership.taken == m.taken == 1


def test_a_law_that_applies_a_change_updates_its_members_and_a_retried_copy_counts_once() -> None:
    law = Law()
    law.learn([(0, Founding("g1", 2, IDS[:3]).decree()), (1, admit(P3, "a1"))])
    assert law.members.latest() == THREE | {P3} and law.members_at(3) == THREE | {P3}
    law.learn([(2, OLIVE_DAY), (3, remove(P3, "r1")), (4, OLIVE_DAY)])
    assert law.members_at(5) == THREE
    _, applied = law.learn([(5, admit(P3, "a1"))])       # the first admit, retried
    assert applied[0].is_duplicate and applied[0].first == 1
    assert law.members.latest() == THREE and law.members.changed_at == 3


def test_a_copy_of_a_change_beyond_the_dedup_window_is_a_new_change() -> None:
    law = Law(dedup=3)
    law.learn([(0, Founding("g1", 2, IDS[:3]).decree()), (1, admit(P3, "a1")),
               (2, OLIVE_DAY), (3, remove(P3, "r1")), (4, OLIVE_DAY), (5, OLIVE_DAY)])
    _, applied = law.learn([(6, admit(P3, "a1"))])
    assert not applied[0].is_duplicate and law.members_at(8) == THREE | {P3}


def test_the_law_refuses_a_different_decree_at_a_known_number() -> None:
    law = Law()
    law.learn([(0, Founding("g1", 2, IDS[:3]).decree()), (1, admit(P3))])
    with pytest.raises(LawConflict, match="decree 1"):
        law.learn([(1, remove(P2))])
    with pytest.raises(LawConflict, match="decree 0"):
        law.learn([(0, Founding("g2", 2, IDS[:3]).decree())])
    assert law.members.latest() == THREE | {P3}


def test_a_compacted_priest_restores_the_membership_its_archived_law_decided() -> None:
    rules, archive = unit_rules(law_memory=1), MemoryArchive()
    priest = make(1, 3, rules, alpha=3, archive=archive)
    priest.receive(SuccessfulBallot(P0, Ballot(1, P0), 5, (
        (1, admit(P3)), (2, OLIVE_DAY), (3, OLIVE_DAY), (4, remove(P0)))))
    assert priest.law.members.pending_until == 7        # remove P0 (at 4) governs from 7
    snapshot: list = []
    compact(priest, archive, snapshot.extend)
    assert isinstance(snapshot[2], Members) and archive.end == 5
    again = Priest.restore(snapshot, rules, archive)
    assert again.law.members.configs == priest.law.members.configs
    assert again.law.members_at(6) == THREE | {P3}
    assert again.law.members_at(7) == frozenset({P1, P2, P3})
    assert again.law.members.pending_until == 7 and again.role == "voter"
    rebuilt = Priest.restore([r for r in snapshot if not isinstance(r, Members)], rules, archive)
    assert rebuilt.law.members.configs == priest.law.members.configs   # from decree 0 up


# ---------------------------------------------------------------- policy


def test_refusal_says_why_a_change_would_do_nothing_or_stop_the_parliament() -> None:
    live = {P0, P1, P2, P3}
    assert refusal(Change("admit", P3), THREE, live) is None
    assert "member already" in refusal(Change("admit", P1), THREE, live)
    assert "not alive" in refusal(Change("admit", P4), THREE, live)
    assert "not a member" in refusal(Change("remove", P4), THREE, live)
    assert "last member" in refusal(Change("remove", P0), {P0}, {P0})
    assert refusal(Change("remove", P2), THREE, {P0, P1}) is None            # 2 of 2 alive
    assert "fewer than the majority" in refusal(Change("remove", P2), THREE, {P0})
    assert "fewer than the majority" in refusal(Change("admit", P3), THREE, {P0, P3})
    assert [majority(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def view(members: set[int], live: set[int], ready: tuple[int, ...] = (),
         gone: frozenset[int] | set[int] = frozenset(), president: int = P0) -> View:
    return View(frozenset(members), frozenset(live), ready, frozenset(gone), president)


def test_plan_removes_a_member_long_gone_before_it_admits() -> None:
    v = view({P0, P1, P2}, {P0, P1, P3}, ready=(P3,), gone={P2})
    assert plan(v, 3) == Change("remove", P2)
    assert plan(view({P0, P1}, {P0, P1, P3}, ready=(P3,)), 3) == Change("admit", P3)


def test_plan_admits_ready_listeners_up_to_the_target_and_then_rests() -> None:
    live = {P0, P1, P2, P3, P4}
    assert plan(view({P0, P1, P2}, live, ready=(P4, P3)), 5) == Change("admit", P4)
    assert plan(view({P0, P1, P2, P4}, live, ready=(P4, P3)), 5) == Change("admit", P3)
    assert plan(view(set(live), live, ready=(P4, P3)), 5) is None
    assert plan(view({P0, P1, P2}, live, ready=(P3,)), 3) is None
    assert plan(view({P0, P1, P2}, live), 5) is None          # nobody ready: nothing to ask


def test_plan_removes_dead_members_first_when_over_target_and_the_president_last() -> None:
    members = {P0, P1, P2, P3, P4}
    assert plan(view(members, {P0, P1, P2, P4}), 3) == Change("remove", P3)   # not alive
    assert plan(view({P0, P1, P2, P4}, {P0, P1, P2, P4}, president=P0), 3) == \
        Change("remove", P1)
    assert plan(view({P0, P1}, {P0, P1}, president=P1), 1) == Change("remove", P0)
    assert plan(view({P0, P1}, {P0, P1}, president=P0), 1) == Change("remove", P1)


def test_plan_never_asks_for_a_change_refusal_refuses() -> None:
    cases = [
        (view({P0, P1, P2}, {P0}, gone={P1, P2}), 3),             # removing would leave 1 of 2
        (view({P0, P1, P2}, {P0, P3}, ready=(P3,)), 4),           # admitting: 2 of 4 alive
        (view({P0, P1, P2, P3}, {P0}), 1),                        # over target, all but one dead
    ]
    for v, target in cases:
        change = plan(v, target)
        assert change is None or refusal(change, v.members, v.live) is None
    assert plan(*cases[0]) is None and plan(*cases[1]) is None
    assert plan(view({P0, P1}, {P0}), 1) == Change("remove", P1)   # 1 of 1 alive after
