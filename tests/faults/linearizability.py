"""A linearizability checker for citizens' petitions against the Parliament's law.

The model
---------
The law is an append-only log.  Every petition a citizen saw acknowledged
(outcome ``ok``, decree number ``n``) sits at exactly one decree number, the
same for every priest; a petition acknowledged before another began sits
earlier.  A petition that failed (the Parliament *said* it was refused) never
sits in the law; a petition whose outcome is ``unknown`` (timeout, crash) may
or may not.

Why a direct check suffices
---------------------------
Wing & Gong's search (with Lowe's memoisation of ``(linearized set, state)``)
looks for *some* total order of the operations, consistent with real time, in
which each operation's response is what the sequential model would answer.
For this log the response of an ``ok`` append IS its position ``n``: the
sequential model answers "appended at ``len(log)``".  So in any valid
linearization the ok operations must be ordered by their ``n`` -- the order is
forced, there is nothing to search.  The search therefore succeeds exactly when

* the ok numbers are distinct (two positions cannot be the same one), and
* ordering by ``n`` respects real time (``a.complete < b.invoke`` implies
  ``a.n < b.n``), and
* the holes between the ok numbers can be filled by unknown operations or by
  decrees the model allows without a citizen (olive-day / internal no-ops).

The third condition always holds in our model (the Parliament passes olive-day
decrees), so :func:`check` verifies the first two directly, in
O(k log k), and :func:`wing_gong` is the generic exponential search, kept small
and used by the tests to cross-check :func:`check` on random histories.

With the ``law`` actually read from ledgers (decree number -> petition id),
:func:`check` also verifies the acknowledgements against it: every ok pid
appears exactly once, at its ``n``; no failed pid appears; unknown pids appear
at most once.  :func:`prefix_check` verifies that every priest's law is a
prefix of one common law.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["ok", "fail", "unknown"]


@dataclass(frozen=True)
class Op:
    """One citizen operation: a petition ``pid`` invoked at ``invoke``, answered at ``complete``.

    ``complete`` is None when no answer came (then ``outcome`` is ``unknown``);
    ``n`` is the decree number of an ``ok`` answer.
    """

    pid: str
    invoke: float
    complete: float | None
    outcome: Outcome
    n: int | None = None

    def __post_init__(self) -> None:
        if self.outcome not in ("ok", "fail", "unknown"):
            raise ValueError(f"outcome must be ok, fail or unknown, got {self.outcome!r}")
        if self.outcome == "ok" and (self.n is None or self.complete is None):
            raise ValueError(f"an ok operation needs n and complete: {self!r}")
        if self.complete is not None and self.complete < self.invoke:
            raise ValueError(f"operation completes before it is invoked: {self!r}")

    @property
    def end(self) -> float:
        """When the operation's effect may happen at the latest (infinity if unanswered)."""
        if self.outcome == "unknown" or self.complete is None:
            return float("inf")
        return self.complete


@dataclass
class Verdict:
    ok: bool = True
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)

    def __bool__(self) -> bool:
        return self.ok


# ------------------------------------------------------------------ the direct check

def check(history: list[Op], law: dict[int, str] | None = None) -> Verdict:
    """Check ``history`` against the append-only log model (and against ``law`` if given)."""
    verdict = Verdict()
    oks = [op for op in history if op.outcome == "ok"]

    # A retried petition may be acknowledged several times (same pid): it must be one number.
    by_pid: dict[str, set[int]] = defaultdict(set)
    for op in oks:
        assert op.n is not None
        by_pid[op.pid].add(op.n)
    for pid, numbers in sorted(by_pid.items()):
        if len(numbers) > 1:
            verdict.fail(f"petition {pid!r} acknowledged at several numbers {sorted(numbers)}")
    by_n: dict[int, set[str]] = defaultdict(set)
    for op in oks:
        assert op.n is not None
        by_n[op.n].add(op.pid)
    for n, pids in sorted(by_n.items()):
        if len(pids) > 1:
            verdict.fail(f"decree {n} acknowledged to several petitions {sorted(pids)}")

    # Real time, per petition: a retried petition may take effect during any of its attempts
    # (failed attempts excepted), so it "began" at its first attempt's invocation and was
    # "done" at its first acknowledgement.
    began: dict[str, float] = {}
    for op in history:
        if op.outcome != "fail":
            began[op.pid] = min(began.get(op.pid, op.invoke), op.invoke)
    acked: dict[str, tuple[float, int]] = {}
    for op in oks:
        assert op.n is not None
        if op.pid not in acked or op.end < acked[op.pid][0]:
            acked[op.pid] = (op.end, op.n)
    # Every petition acknowledged before b began must be at a lower number: compare b
    # with the highest number acknowledged before it began (a prefix maximum over the
    # acknowledgements in time order, so the check is n log n, not n squared).
    done = sorted(acked.items(), key=lambda item: item[1][0])
    ends = [end for _, (end, _) in done]
    highest: list[tuple[int, str]] = []
    top = (-1, "")
    for a, (_, an) in done:
        top = max(top, (an, a))
        highest.append(top)
    for b, (_, bn) in acked.items():
        before = bisect_left(ends, began[b])          # acknowledged strictly before b began
        if before and highest[before - 1][0] >= bn:
            an, a = highest[before - 1]
            verdict.fail(f"real-time order broken: {a!r} (n={an}) was acknowledged at "
                         f"{acked[a][0]} before {b!r} (n={bn}) began at {began[b]}")

    if law is not None:
        _check_law(history, law, verdict)
    return verdict


def _check_law(history: list[Op], law: dict[int, str], verdict: Verdict) -> None:
    where: dict[str, list[int]] = defaultdict(list)
    for n, pid in law.items():
        where[pid].append(n)
    ok_pids = {op.pid for op in history if op.outcome == "ok"}
    for op in history:
        places = sorted(where.get(op.pid, []))
        if op.outcome == "ok":
            if places != [op.n]:
                verdict.fail(f"acknowledged petition {op.pid!r} (n={op.n}) is at {places} "
                             f"in the law, not exactly once at {op.n}")
        elif op.outcome == "fail":
            if places and op.pid not in ok_pids:
                verdict.fail(f"failed petition {op.pid!r} is in the law at {places}")
        elif len(places) > 1:
            verdict.fail(f"petition {op.pid!r} is in the law {len(places)} times: {places}")


def prefix_check(laws: list[dict[int, str]]) -> Verdict:
    """Every priest's law is a prefix of one common law: no holes, no disagreement."""
    verdict = Verdict()
    common: dict[int, tuple[str, int]] = {}
    for i, law in enumerate(laws):
        if law:
            top = max(law)
            holes = [n for n in range(top + 1) if n not in law]
            if holes:
                verdict.fail(f"law {i} has holes below its highest decree {top}: {holes[:10]}")
        for n, pid in law.items():
            seen = common.setdefault(n, (pid, i))
            if seen[0] != pid:
                verdict.fail(f"laws {seen[1]} and {i} disagree at decree {n}: "
                             f"{seen[0]!r} vs {pid!r}")
    return verdict


# ------------------------------------------------------------------ Wing & Gong, with Lowe's memo

@dataclass(frozen=True)
class Model:
    """A sequential model: ``step(state, op) -> new state or None`` (None: op not legal here)."""

    init: Hashable
    step: Callable[[Any, Op], Any]


def _log_step(state: tuple[str, ...], op: Op) -> tuple[str, ...] | None:
    """The append-only log: an append lands at len(state); an ok op must have answered that."""
    if op.pid in state:                 # a retry of an already-passed petition: a no-op
        return state if op.outcome != "ok" or state.index(op.pid) == op.n else None
    if op.outcome == "ok" and op.n != len(state):
        return None
    return state + (op.pid,)


def _filler_step(state: tuple[str, ...], op: Op) -> tuple[str, ...] | None:
    return state + (op.pid,)


#: the log model; ops named ``~filler`` stand for olive-day decrees (appended, seen by nobody)
LOG = Model(init=(), step=_log_step)


def wing_gong(history: Iterable[Op], model: Model = LOG, *, fillers: int | None = None) -> bool:
    """Is ``history`` linearizable w.r.t. ``model``?  Wing & Gong search, Lowe's memoisation.

    Failed ops have no effect and are dropped.  An unknown op may take effect at
    any point after its invocation, or never.  For the log model, ``fillers``
    olive-day appends (free in time) let ok numbers skip positions; by default as
    many as the highest ok number needs.
    """
    ops = [op for op in history if op.outcome != "fail"]
    if fillers is None:
        fillers = 1 + max((op.n for op in ops if op.n is not None), default=-1)
    base = len(ops)
    ops += [Op(f"~filler{i}", float("-inf"), None, "unknown") for i in range(fillers)]
    required = frozenset(i for i, op in enumerate(ops) if op.outcome == "ok")
    seen: set[tuple[frozenset[int], Hashable]] = set()

    def search(done: frozenset[int], state: Any) -> bool:
        if required <= done:
            return True
        key = (done, state)
        if key in seen:
            return False
        seen.add(key)
        pending = [i for i in range(len(ops)) if i not in done]
        # An op may go next only if no pending *required* op finished before it was invoked.
        horizon = min((ops[i].end for i in pending if i in required), default=float("inf"))
        for i in pending:
            op = ops[i]
            if op.invoke > horizon:
                continue
            if i >= base and any(j >= base and j not in done for j in range(base, i)):
                continue                # fillers are interchangeable: take them in order
            new = model.step(state, op) if i < base else _filler_step(state, op)
            if new is not None and search(done | {i}, new):
                return True
        return False

    return search(frozenset(), model.init)


# ------------------------------------------------------------------ laws read from ledgers

def prefix(raw: dict[int, str]) -> dict[int, str]:
    """The decrees of ``raw`` (decree number -> text) below its first hole: what a priest
    knows passed, however its notes of later decrees were lost."""
    n = 0
    while n in raw:
        n += 1
    return {k: raw[k] for k in range(n)}


def citizens_law(raw: dict[int, str]) -> dict[int, str]:
    """Decree number -> petition id, from a ledger's ``passed`` texts (``id=PID decree=...``
    or ``olive-day``): the citizens' petitions only.  Olive-day decrees and the Parliament's
    own (ids starting ``!``: the founding, changes of membership, sync barriers) are no
    citizen's; a petition passed again (a retry) counts once, at its first number, as the
    law applies it."""
    law: dict[int, str] = {}
    seen: set[str] = set()
    for n, text in sorted(raw.items()):
        pid = text.split(" ")[0].removeprefix("id=")
        if text == "olive-day" or pid.startswith("!") or pid in seen:
            continue
        seen.add(pid)
        law[n] = pid
    return law
