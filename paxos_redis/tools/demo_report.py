"""What ``paxos-redis demo`` found, and how it says so: the checks (pure) and the summary.

The demo reads every ledger it leaves behind (``<parliament>-<identity>.ledger``, with
its archive) and checks that they hold one law: every priest still sitting holds all of
it, a priest that left holds a beginning of it.  Every petition must be in that law
exactly once, at the number its citizen was told.  The failover, the restart and the
two changes of membership must each have happened.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paxos_redis.protocol.membership import FOUNDING, is_membership
from paxos_redis.protocol.records import Passed, Record
from paxos_redis.storage.ledger import LedgerError, law_line, law_lines, replay

#: how the law's lines show the parliament's own decrees (citizens' never look like this)
FOUNDED, MEMBERS = "founding: ", "membership: "


@dataclass
class Failover:
    """The president killed, its successor, and the dead priest back from its ledger."""

    old_priest: str
    old_pid: int
    at_passed: int
    killed_at: float
    new_priest: str | None = None
    elected_s: float | None = None
    resumed_s: float | None = None
    restarted_pid: int | None = None
    rejoined: str | None = None          # the identity the restarted process runs as


@dataclass
class Changes:
    """A priest joined (admitted by decree) and one left (removed by decree)."""

    founders: tuple[str, ...] = ()      # the priests the god founded the parliament with
    target: int = 0                     # the god's --priests after its restart
    joined: str | None = None           # the new priest's identity
    listening: bool = False             # it was seen as a listener before it voted
    admitted_at: int | None = None      # the decree that admitted it
    voting_from: int | None = None      # the first decree its vote counts for
    left: str | None = None             # the priest stopped
    removed_at: int | None = None
    removed_from: int | None = None


@dataclass
class Tally:
    """The citizens' side: what they petitioned and what they were told."""

    bodies: list[str] = field(default_factory=list)
    told: dict[str, int] = field(default_factory=dict)     # body -> the decree number told
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    #: throughput of the main round (the one the president is killed in)
    passed: int = 0
    seconds: float = 0.0


@dataclass
class Verdict:
    """What the checks found; ``ok`` when nothing."""

    law: list[str] = field(default_factory=list)      # the longest sitting priest's law
    disagreements: list[str] = field(default_factory=list)
    petition_problems: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    agreeing: int = 0
    ledgers: int = 0
    #: priests that left: how many decrees of the law their ledgers hold
    behind: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    twice: int = 0

    @property
    def problems(self) -> list[str]:
        return self.disagreements + self.petition_problems + self.other

    @property
    def ok(self) -> bool:
        return not self.problems


def check_laws(laws: Mapping[str, Sequence[str] | str], verdict: Verdict,
               left: Collection[str] = ()) -> None:
    """Every ledger must hold one and the same law (a str value: that ledger is unreadable),
    except that a priest in ``left`` (it stopped, and was removed) may hold only its
    beginning."""
    verdict.ledgers = len(laws)
    readable = {who: list(law) for who, law in laws.items() if not isinstance(law, str)}
    for who, law in sorted(laws.items()):
        if isinstance(law, str):
            verdict.disagreements.append(f"priest {who}: {law}")
    if not readable:
        verdict.disagreements.append("no ledger could be read")
        return
    sitting = {who: law for who, law in readable.items() if who not in left} or readable
    ref_priest = min(sitting, key=lambda who: (-len(sitting[who]), who))
    verdict.law = ref = sitting[ref_priest]
    for who, law in sorted(readable.items()):
        if law == ref:
            verdict.agreeing += 1
        elif law == ref[:len(law)] and who in left:
            verdict.agreeing += 1
            verdict.behind[who] = len(law)
        elif law == ref[:len(law)]:
            verdict.disagreements.append(f"priest {who} is behind: its ledger holds {len(law)} "
                                         f"of {len(ref)} decrees (it agrees on all it holds)")
        else:
            at = next((i for i, (a, b) in enumerate(zip(law, ref, strict=False)) if a != b),
                      len(ref))
            mine = law[at] if at < len(law) else "nothing"
            theirs = repr(ref[at]) if at < len(ref) else "nothing"
            verdict.disagreements.append(f"laws differ: priest {who} has {mine!r} where priest "
                                         f"{ref_priest} has {theirs}")


def check_petitions(verdict: Verdict, bodies: Sequence[str], told: Mapping[str, int],
                    errors: Sequence[str]) -> None:
    """Each petition in the law exactly once, at the number its citizen was told."""
    where: dict[str, list[int]] = {}
    for line in verdict.law:
        n, _, body = line.partition(",")
        where.setdefault(body, []).append(int(n))
    counts = Counter({body: len(ns) for body, ns in where.items()})
    verdict.twice = sum(1 for body in bodies if counts[body] > 1)
    verdict.lost = sum(1 for body in bodies if counts[body] == 0)
    wrong = [b for b in bodies if b in told and counts[b] == 1 and where[b][0] != told[b]]
    if verdict.twice:
        verdict.petition_problems.append(f"{verdict.twice} petitions passed twice")
    if verdict.lost:
        verdict.petition_problems.append(f"{verdict.lost} petitions are not in the law (lost)")
    if wrong:
        first = wrong[0]
        verdict.petition_problems.append(
            f"{len(wrong)} citizens were told the wrong decree number, e.g. {first}: told "
            f"{told[first]}, the law has it at {where[first][0]}")
    if errors:
        verdict.petition_problems.append(f"{len(errors)} petitions failed, e.g. {errors[0]}")


def check_membership(verdict: Verdict, changes: Changes) -> None:
    """The law read from disk founds the parliament with the founders, admits the priest
    that joined and removes the one that left, at the numbers the roster showed."""
    founding = [line for line in verdict.law if line.startswith(f"0,{FOUNDED}")]
    members = f"members={','.join(sorted(changes.founders))}"
    if not founding or not founding[0].endswith(members):
        verdict.other.append(f"founding: decree 0 of the law is not a founding with "
                             f"{members}: {founding[0] if founding else 'none'}")
    for op, who, at in (("admit", changes.joined, changes.admitted_at),
                        ("remove", changes.left, changes.removed_at)):
        if who is not None and at is not None and f"{at},{MEMBERS}{op} {who}" not in verdict.law:
            verdict.other.append(f"{op}: the law read from the ledgers does not {op} priest "
                                 f"{who} at decree {at}, as the heartbeats said")


def law_with_members(records: Sequence[Record]) -> list[str]:
    """:func:`~paxos_redis.storage.ledger.law_lines`, with the parliament's decrees of membership
    (which it leaves out) in their places, as ``N,founding: ...`` and ``N,membership: ...``."""
    ours = {n: decree for record in records if isinstance(record, Passed)
            for n, decree in record.entries if is_membership(decree.petition)}
    lines = law_lines(records) + [
        law_line(n, (FOUNDED if d.petition.startswith(FOUNDING) else MEMBERS).encode() + d.body)
        for n, d in ours.items()]
    return sorted(lines, key=lambda line: int(line.partition(",")[0]))


def read_laws(ledger_dir: Path, parliament: str) -> dict[str, list[str] | str]:
    """The law of every ledger of ``parliament`` in ``ledger_dir`` (its archive included),
    by the priest's identity; a str for a ledger that cannot be read."""
    laws: dict[str, list[str] | str] = {}
    for path in sorted(ledger_dir.glob(f"{parliament}-*.ledger")):
        who = path.name[len(parliament) + 1:-len(".ledger")]
        try:
            laws[who] = law_with_members(replay(path, path.read_bytes())[0])
        except OSError as exc:
            laws[who] = f"cannot read {path}: {exc.strerror}"
        except LedgerError as exc:
            laws[who] = str(exc)
    return laws


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q / 100 * len(ordered) + 0.5) - 1))]


def joined_line(c: Changes) -> str:
    return (f"priest {c.joined} joined as a listener, caught up, and was admitted by the "
            f"decree at {c.admitted_at}, voting from decree {c.voting_from}")


def left_line(c: Changes) -> str:
    return (f"priest {c.left} left; removed by the decree at {c.removed_at} (the others vote "
            f"without it from decree {c.removed_from})")


def _failover_lines(failover: Failover | None, verdict: Verdict, timeout: float) -> list[str]:
    if failover is None or failover.new_priest is None:
        verdict.other.append(f"failover: no new president took over within {timeout:g} s of "
                             "killing the old one")
        return ["failover: FAILED (no new president)"]
    resumed = "" if failover.resumed_s is None else \
        f"; petitions passing again after {failover.resumed_s:.2f} s"
    lines = [f"failover: president {failover.old_priest} killed (SIGKILL) after "
             f"{failover.at_passed} petitions; new president {failover.new_priest} after "
             f"{failover.elected_s:.2f} s{resumed}"]
    if failover.rejoined is None:
        verdict.other.append("restart: the killed priest, restarted, never ran again")
        lines.append("restart: FAILED (the restarted priest never ran again)")
    elif failover.rejoined != failover.old_priest:
        verdict.other.append(f"restart: the killed priest {failover.old_priest}, restarted, "
                             f"ran as {failover.rejoined}")
        lines.append(f"restart: FAILED (it ran as priest {failover.rejoined}, not "
                     f"{failover.old_priest})")
    else:
        lines.append(f"restart: the killed priest, restarted, took back its identity "
                     f"{failover.rejoined} from its ledger")
    return lines


def _membership_lines(changes: Changes | None, verdict: Verdict) -> list[str]:
    c = changes or Changes()
    joined = left = None
    if c.joined is None:
        joined = "a new priest never beat"
    elif c.voting_from is None:
        joined = f"priest {c.joined} was {'a listener but ' if c.listening else ''}never admitted"
    if c.left is None:
        left = "no priest was stopped"
    elif c.removed_from is None:
        left = f"priest {c.left} stopped but was never removed"
    return [_change_line("join", joined, c, joined_line, verdict),
            _change_line("leave", left, c, left_line, verdict)]


def _change_line(kind: str, failure: str | None, changes: Changes,
                 line: Callable[[Changes], str], verdict: Verdict) -> str:
    """The demo's line for a join or a leave: what happened, or why it FAILED."""
    if failure is None:
        return f"{kind}: {line(changes)}"
    verdict.other.append(f"{kind}: {failure}")
    return f"{kind}: FAILED ({failure})"


def summary(args: argparse.Namespace, where: str, tally: Tally, failover: Failover | None,
            changes: Changes | None, verdict: Verdict, *,
            failover_timeout: float = 20.0) -> list[str]:
    """The final lines; a step that did not happen is added to the verdict's problems."""
    lines = [f"demo: {args.priests} priests, {len(tally.bodies)} petitions from "
             f"{args.citizens} citizens, messengers: {where}"]
    lines += _failover_lines(failover, verdict, failover_timeout)
    lines += _membership_lines(changes, verdict)
    kinds = Counter(line.partition(",")[2].partition(" ")[0] for line in verdict.law)
    lines.append(f"law: {len(verdict.law)} decrees: {kinds[FOUNDED.strip()]} founding, "
                 f"{kinds[MEMBERS.strip()]} changes of membership, the rest petitions (every "
                 "priest's ledger read from disk)")
    agree = "FAILED" if verdict.disagreements else "ok"
    behind = "".join(f"; {who}, which left, holds its first {n}"
                     for who, n in sorted(verdict.behind.items()))
    lines.append(f"agreement: {agree}: {verdict.agreeing}/{verdict.ledgers} ledgers agree on "
                 f"the law of {len(verdict.law)} decrees{behind}")
    once = len(tally.bodies) - verdict.lost - verdict.twice
    lines.append(f"petitions: {'FAILED' if verdict.petition_problems else 'ok'}: "
                 f"{once} passed once each, {verdict.lost} lost, {verdict.twice} passed twice")
    seconds = max(1e-9, tally.seconds)
    through = ", through the failover" if failover is not None and \
        failover.at_passed < tally.passed else ""
    lines.append(f"throughput: {tally.passed / seconds:.1f} petitions/s "
                 f"({tally.passed} in {tally.seconds:.1f} s{through}); latency "
                 f"p50 {percentile(tally.latencies, 50) * 1000:.1f} ms, "
                 f"p99 {percentile(tally.latencies, 99) * 1000:.1f} ms")
    lines += [f"problem: {p}" for p in verdict.problems]
    lines.append("result: ok" if verdict.ok else f"result: FAILED ({len(verdict.problems)} "
                 "problems)")
    return lines
