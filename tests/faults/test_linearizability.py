"""The linearizability checker: hand-made histories it must reject and accept, and a
cross-check of the direct check against the Wing & Gong search on random histories."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from linearizability import Op, check, citizens_law, prefix, prefix_check, wing_gong  # noqa: E402


def ok(pid: str, invoke: float, complete: float, n: int) -> Op:
    return Op(pid, invoke, complete, "ok", n)


# ------------------------------------------------------------------ violations

def test_two_petitions_at_one_number_are_rejected() -> None:
    history = [ok("a", 0, 1, 0), ok("b", 0, 1, 0)]
    verdict = check(history)
    assert not verdict.ok and "decree 0" in verdict.problems[0]
    assert not wing_gong(history)


def test_one_petition_at_two_numbers_is_rejected() -> None:
    history = [ok("a", 0, 1, 0), ok("a", 2, 3, 1)]
    assert not check(history).ok
    assert not wing_gong(history)


def test_real_time_inversion_is_rejected() -> None:
    history = [ok("a", 0, 1, 5), ok("b", 2, 3, 4)]      # a done before b began, yet sits later
    verdict = check(history)
    assert not verdict.ok and "real-time" in verdict.problems[0]
    assert not wing_gong(history)


def test_failed_petition_in_the_law_is_rejected() -> None:
    history = [ok("a", 0, 1, 0), Op("b", 0, 1, "fail")]
    verdict = check(history, {0: "a", 1: "b"})
    assert not verdict.ok and "failed petition 'b'" in verdict.problems[0]


def test_acknowledged_petition_missing_from_the_law_is_rejected() -> None:
    history = [ok("a", 0, 1, 0), ok("b", 0, 1, 1)]
    verdict = check(history, {0: "a", 1: ""})
    assert not verdict.ok and "'b'" in verdict.problems[0]


def test_acknowledged_petition_at_another_number_in_the_law_is_rejected() -> None:
    assert not check([ok("a", 0, 1, 0)], {0: "", 1: "a"}).ok


def test_petition_twice_in_the_law_is_rejected() -> None:
    assert not check([ok("a", 0, 1, 0)], {0: "a", 1: "a"}).ok
    assert not check([Op("u", 0, None, "unknown")], {0: "u", 1: "u"}).ok


def test_priest_law_that_is_not_a_prefix_is_rejected() -> None:
    verdict = prefix_check([{0: "a", 1: "b"}, {0: "a", 1: "c"}])
    assert not verdict.ok and "disagree at decree 1" in verdict.problems[0]
    holes = prefix_check([{0: "a", 1: "b", 2: "c"}, {0: "a", 2: "c"}])
    assert not holes.ok and "holes" in holes.problems[0]


# ------------------------------------------------------------------ valid histories

@pytest.mark.parametrize("na,nb", [(0, 1), (1, 0)])
def test_concurrent_petitions_may_sit_in_either_order(na: int, nb: int) -> None:
    history = [ok("a", 0, 3, na), ok("b", 1, 2, nb)]
    law = {na: "a", nb: "b"}
    assert check(history, law).ok
    assert wing_gong(history)


def test_sequential_petitions_in_order_with_olive_days_between() -> None:
    history = [ok("a", 0, 1, 0), ok("b", 2, 3, 3), ok("c", 4, 5, 7)]
    assert check(history, {0: "a", 1: "", 2: "!sync", 3: "b", 7: "c"}).ok
    assert wing_gong(history)


@pytest.mark.parametrize("law", [{0: "a", 1: "u"}, {0: "a"}, {0: "u", 1: "a"}])
def test_unknown_outcomes_may_be_present_or_absent(law: dict[int, str]) -> None:
    n = next(k for k, v in law.items() if v == "a")
    history = [ok("a", 0, 5, n), Op("u", 1, None, "unknown")]
    assert check(history, law).ok
    assert wing_gong(history)


def test_retried_petition_acknowledged_twice_at_one_number() -> None:
    history = [ok("a", 0, 1, 0), Op("a", 0.5, None, "unknown"), ok("a", 2, 3, 0), ok("b", 4, 5, 1)]
    assert check(history, {0: "a", 1: "b"}).ok
    assert wing_gong(history)


def test_failed_petition_absent_from_the_law_is_fine() -> None:
    assert check([Op("f", 0, 1, "fail"), ok("a", 0, 2, 0)], {0: "a"}).ok


def test_common_prefixes_are_accepted() -> None:
    assert prefix_check([{0: "a", 1: "b", 2: "c"}, {0: "a"}, {}, {0: "a", 1: "b"}]).ok


# ------------------------------------------------------------------ laws read from ledgers

def test_citizens_law_leaves_out_the_parliaments_own_decrees_and_repeats() -> None:
    """The founding, changes of membership and olive days are in a ledger's law but no
    citizen's; a retried petition passed twice counts at its first number."""
    raw = {0: "id=!found:abc decree=alpha=4096 members=0000000000aa",
           1: "id=p-1 decree=p-1",
           2: "id=!members:admit:0000000000bb:n1 decree=admit 0000000000bb",
           3: "olive-day",
           4: "id=p-2 decree=p-2",
           5: "id=p-1 decree=p-1"}
    assert citizens_law(raw) == {1: "p-1", 4: "p-2"}
    history = [ok("p-1", 0, 1, 1), ok("p-2", 2, 3, 4)]
    assert check(history, citizens_law(raw)).ok
    # had the change of membership been counted as a citizen's, a petition at 2 would clash
    assert not check([ok("p-3", 0, 1, 2)], citizens_law(raw)).ok


def test_prefix_stops_at_the_first_hole() -> None:
    assert prefix({0: "a", 1: "b", 3: "d"}) == {0: "a", 1: "b"}
    assert prefix({1: "b"}) == {}


# ------------------------------------------------------------------ cross-check

@st.composite
def histories(draw: st.DrawFn) -> list[Op]:
    ops = []
    for i in range(draw(st.integers(0, 6))):
        pid = draw(st.sampled_from("abcdefg"[: max(1, i + 1)]))
        invoke = draw(st.integers(0, 10))
        outcome = draw(st.sampled_from(["ok", "ok", "fail", "unknown"]))
        complete = None if outcome == "unknown" else invoke + draw(st.integers(0, 5))
        n = draw(st.integers(0, 6)) if outcome == "ok" else None
        ops.append(Op(pid, float(invoke), None if complete is None else float(complete), outcome, n))
    return ops


@settings(max_examples=400, deadline=None)
@given(histories())
def test_direct_check_agrees_with_wing_gong(history: list[Op]) -> None:
    assert check(history).ok == wing_gong(history), (check(history).problems, history)


@st.composite
def linearizable(draw: st.DrawFn) -> list[Op]:
    """Generate from a real log: each op takes effect at a point inside its interval."""
    ops, n = [], 0
    for i in range(draw(st.integers(0, 7))):
        invoke = draw(st.floats(0, 20))
        effect = invoke + draw(st.floats(0, 5))
        ops.append((effect, f"p{i}", invoke, draw(st.sampled_from(["ok", "unknown"]))))
    out = []
    for effect, pid, invoke, outcome in sorted(ops):
        n += draw(st.integers(0, 2))                   # olive days between
        out.append(Op(pid, invoke, effect + draw(st.floats(0, 5)) if outcome == "ok" else None,
                      outcome, n if outcome == "ok" else None))
        n += 1
    return out


@settings(max_examples=200, deadline=None)
@given(linearizable())
def test_histories_from_a_real_log_are_accepted(history: list[Op]) -> None:
    assert check(history).ok
    assert wing_gong(history)
