"""The law: passed decrees applied in decree-number order, each petition once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paxos_redis.protocol import OLIVE_DAY, Applied, Decree, Law, LawConflict

A, B, C, D = (Decree(p, p.encode()) for p in "abcd")


def test_a_new_law_knows_nothing() -> None:
    law = Law()
    assert law.known == 0
    assert law.highest() == -1
    assert law.get(0) is None
    assert not law.is_passed(0)
    assert law.passed_from(0, 10) == ()


def test_decrees_apply_in_order_when_contiguous() -> None:
    law = Law()
    new, applied = law.learn([(0, A), (1, B)])
    assert new == [(0, A), (1, B)]
    assert applied == [Applied(0, A, 0), Applied(1, B, 1)]
    assert law.known == 2


def test_a_gap_holds_back_later_decrees_until_filled() -> None:
    law = Law()
    new, applied = law.learn([(2, C), (1, B)])
    assert new == [(2, C), (1, B)]
    assert applied == []
    assert law.known == 0
    assert law.is_passed(2) and law.highest() == 2
    new, applied = law.learn([(0, A)])
    assert new == [(0, A)]
    assert [e.n for e in applied] == [0, 1, 2]
    assert [e.decree for e in applied] == [A, B, C]
    assert law.known == 3


def test_out_of_order_batch_is_applied_in_decree_number_order() -> None:
    law = Law()
    _, applied = law.learn([(3, D), (1, B), (0, A), (2, C)])
    assert [e.n for e in applied] == [0, 1, 2, 3]


def test_relearning_is_a_no_op_and_a_different_decree_at_a_known_number_is_a_conflict() -> None:
    law = Law()
    law.learn([(0, A), (2, C)])
    new, applied = law.learn([(2, C), (0, A)])      # the same decrees again: nothing new
    assert new == [] and applied == []
    with pytest.raises(LawConflict, match="decree 0"):
        law.learn([(0, B)])                         # applied (below known)
    with pytest.raises(LawConflict, match="decree 2"):
        law.learn([(2, D)])                         # passed above a hole, not applied yet
    assert law.get(0) == A and law.get(2) == C and law.known == 1
    with pytest.raises(LawConflict, match="decree 1"):
        law.learn([(1, B), (1, D)])                 # two decrees at one number in one batch


def test_duplicate_petition_is_applied_once_pointing_at_its_first_number() -> None:
    law = Law()
    retry = Decree("a", b"a")                       # same petition id, passed again after failover
    _, applied = law.learn([(0, A), (1, B), (2, retry)])
    assert applied[0] == Applied(0, A, 0) and not applied[0].is_duplicate
    assert applied[2] == Applied(2, retry, 0)
    assert applied[2].is_duplicate
    assert law.first_of["a"] == 0


def test_duplicate_learned_before_its_original_still_points_at_the_lower_number() -> None:
    law = Law()
    law.learn([(5, A)])
    _, applied = law.learn([(n, Decree(f"x{n}", b"")) for n in range(1, 5)] + [(0, A)])
    firsts = {e.n: e.first for e in applied}
    assert firsts[0] == 0 and firsts[5] == 0
    assert [e.n for e in applied if e.is_duplicate] == [5]


def test_olive_days_are_never_duplicates() -> None:
    law = Law()
    _, applied = law.learn([(0, OLIVE_DAY), (1, OLIVE_DAY), (2, A)])
    assert [e.first for e in applied] == [0, 1, 2]
    assert not any(e.is_duplicate for e in applied)
    assert "" not in law.first_of


def test_passed_from_is_a_contiguous_transcript_with_a_limit() -> None:
    law = Law()
    law.learn([(0, A), (1, B), (2, C), (4, D)])
    assert law.passed_from(0, 10) == ((0, A), (1, B), (2, C))
    assert law.passed_from(1, 1) == ((1, B),)
    assert law.passed_from(3, 10) == ()             # a hole: nothing from there
    assert law.passed_from(4, 10) == ((4, D),)
    assert law.passed_from(0, 0) == ()


def test_highest_is_the_top_decree_number_even_across_gaps() -> None:
    law = Law()
    law.learn([(7, A)])
    assert law.highest() == 7 and law.known == 0
    law.learn([(3, B)])
    assert law.highest() == 7


def test_numbers_below_known_are_not_learned_again() -> None:
    law = Law()
    law.learn([(0, A), (1, B)])
    new, applied = law.learn([(0, A), (1, B)])
    assert new == [] and applied == [] and law.get(0) == A and law.known == 2
    with pytest.raises(LawConflict):
        law.learn([(0, C)])
    assert law.get(0) == A and law.known == 2


@given(st.permutations(list(range(12))), st.integers(1, 5))
def test_property_any_delivery_order_applies_each_number_once_in_order(
        order: list[int], chunk: int) -> None:
    law, in_order = Law(), []
    decrees = {n: Decree(f"p{n % 4}", bytes([n])) for n in range(12)}
    for i in range(0, len(order), chunk):
        _, applied = law.learn([(n, decrees[n]) for n in order[i: i + chunk]])
        in_order.extend(applied)
    assert [e.n for e in in_order] == list(range(12))
    assert law.known == 12
    assert [e.first for e in in_order] == [n % 4 for n in range(12)]
