"""Snapshots of the cost of a parliament, and the figures of one phase from two of them.

A :class:`Snapshot` holds, at one instant: the CPU seconds used so far by each process
role (priests, god, citizens from ``/proc/PID/stat``; redis-server from its own
``INFO cpu``, which works for a remote Redis too) and the calls of every Redis command
(``INFO commandstats``).  The difference of two snapshots, divided by the decrees that
passed between them, is the cost per decree.  The ``INFO`` calls the snapshots make are
left out of the command counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paxos_redis.tools.bench.procfs import cpu_seconds

ROLES = ("priests", "god", "citizens", "redis_server")
#: Commands the benchmark itself sends between snapshots (never the parliament's).
OWN_COMMANDS = frozenset({"info"})


@dataclass(frozen=True)
class Snapshot:
    at: float                              # time.monotonic()
    cpu: dict[str, float | None]           # role -> CPU seconds so far (None: unknown)
    priests: tuple[float | None, ...]      # each priest's CPU seconds, by identity
    commands: dict[str, int]               # Redis command -> calls so far


def _sum(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def snapshot(redis: Any, *, priests: Sequence[int], god: Sequence[int],
             citizens: Sequence[int]) -> Snapshot:
    """CPU of every role and Redis command counts, now (priest pids ordered by identity)."""
    per_priest = tuple(cpu_seconds(pid) for pid in priests)
    cpu = redis.info("cpu")
    commands = {name.removeprefix("cmdstat_"): int(stat["calls"])
                for name, stat in redis.info("commandstats").items()}
    return Snapshot(at=time.monotonic(),
                    cpu={"priests": _sum(per_priest), "god": _sum([cpu_seconds(p) for p in god]),
                         "citizens": _sum([cpu_seconds(p) for p in citizens]),
                         "redis_server": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])},
                    priests=per_priest, commands=commands)


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def _per(value: float | None, count: float, scale: float) -> float | None:
    return None if value is None or count <= 0 else value / count * scale


def command_calls(before: Snapshot, after: Snapshot) -> dict[str, int]:
    """Calls of each command between the snapshots (the benchmark's own INFO left out)."""
    out = {name: calls - before.commands.get(name, 0) for name, calls in after.commands.items()
           if name not in OWN_COMMANDS}
    return {name: n for name, n in sorted(out.items(), key=lambda kv: -kv[1]) if n > 0}


def cost(before: Snapshot, after: Snapshot, decrees: int) -> dict[str, Any]:
    """CPU per role and Redis commands between two snapshots, per decree and per 1,000."""
    spent = {role: _delta(after.cpu[role], before.cpu[role]) for role in ROLES}
    known = [v for v in spent.values() if v is not None]
    spent["total"] = sum(known) if len(known) == len(ROLES) else None
    calls = command_calls(before, after)
    total_calls = sum(calls.values())
    return {
        "cpu_s": spent,
        "cpu_s_per_1000_decrees": {r: _per(v, decrees, 1e3) for r, v in spent.items()},
        "cpu_us_per_decree": {r: _per(v, decrees, 1e6) for r, v in spent.items()},
        "priest_cpu_s_per_1000_decrees": [
            _per(_delta(a, b), decrees, 1e3) for a, b in zip(after.priests, before.priests, strict=True)],
        "redis_commands": total_calls,
        "redis_commands_per_decree": _per(total_calls, decrees, 1.0),
        "redis_commands_per_decree_by_name": {n: c / decrees for n, c in calls.items()}
        if decrees > 0 else {},
    }


def idle(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """The cost of doing nothing (ticks, heartbeats, the god's watch), per second."""
    seconds = after.at - before.at
    calls = sum(command_calls(before, after).values())
    return {"seconds": seconds,
            "cpu_ms_per_s": {r: _per(_delta(after.cpu[r], before.cpu[r]), seconds, 1e3)
                             for r in ROLES if r != "citizens"},
            "redis_commands_per_s": calls / seconds if seconds > 0 else None}


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (NaN if empty)."""
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def latency_ms(latencies_us: Sequence[int]) -> dict[str, float | None]:
    """p50, p90, p99, p99.9, max and mean of petition latencies, in milliseconds."""
    ordered = sorted(latencies_us)
    if not ordered:
        return dict.fromkeys(("p50", "p90", "p99", "p999", "max", "mean"))
    pick = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
    out: dict[str, float | None] = {k: percentile(ordered, p) / 1e3 for k, p in pick.items()}
    out["max"] = ordered[-1] / 1e3
    out["mean"] = sum(ordered) / len(ordered) / 1e3
    return out
