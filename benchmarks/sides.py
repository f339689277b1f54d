"""The two sides of a comparison: paxos-redis (the package's bench) and PySyncObj (peer.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import peer

from paxos_redis.errors import BenchError
from paxos_redis.tools.bench.progress import Progress
from paxos_redis.tools.bench.runner import BenchOptions, run
from paxos_redis.tools.local_parliament import Children

#: PySyncObj phases: no batching one at a time; the same window as paxos-redis; then one
#: ``tput-wide-W`` per ``--pso-window`` W (its throughput grows with the window until it
#: stalls, so its best is looked for, not assumed)
PEER_PHASES = ("seq", "tput", "tput-wide")


def paxos_side(a: argparse.Namespace, *, priests: int, payload: int, modes: tuple[str, ...],
               windows: tuple[int, ...], idle: float = 1.0,
               profile_dir: Path | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """paxos-redis's report (see ``paxos-redis bench --json``), or None and the problem."""
    priest_argv = None
    if profile_dir is not None:
        def priest_argv(i: int) -> list[str]:
            return [sys.executable, str(Path(__file__).with_name("bench.py")),
                    "--role", "priest-profiled", "--out", str(profile_dir / f"priest-{i}.prof")]
    options = BenchOptions(priests=priests, payload=payload, modes=modes, windows=windows,
                           citizens=a.citizens, seconds=a.seconds, warmup=a.warmup, idle=idle,
                           redis_url=a.redis, priest_argv=priest_argv)
    try:
        return run(options, Progress(quiet=a.quiet)), []
    except BenchError as exc:
        return None, [f"paxos-redis ({priests} priests, {payload} B): {exc}"]


def peer_side(a: argparse.Namespace, children: Children, *, nodes: int, payload: int,
              phases: tuple[str, ...] = PEER_PHASES) -> tuple[dict[str, Any] | None, list[str]]:
    """PySyncObj's figures per phase (None if it is not installed) and any problems."""
    try:
        import pysyncobj  # noqa: F401
    except ImportError:
        return None, ["PySyncObj not installed: pip install -e '.[bench]'"]
    out: dict[str, Any] = {"durability": peer.DURABILITY}
    problems = []
    runs = [(phase, {"seq": 1, "tput": a.window}[phase]) for phase in phases if phase != "tput-wide"]
    if "tput-wide" in phases:
        runs += [(f"tput-wide-{w}", w) for w in a.pso_window]
    for phase, window in runs:
        if not a.quiet:
            print(f"PySyncObj {phase}: {nodes} nodes, {payload} B, {window} in flight ...",
                  file=sys.stderr, flush=True)
        try:
            out[phase] = peer.run_pso(children, phase=phase, nodes=nodes, window=window,
                                      seconds=a.seconds, warmup=a.warmup, payload=payload)
        except Exception as exc:                   # noqa: BLE001 - reported
            problems.append(f"PySyncObj {phase} ({nodes} nodes, {payload} B): {exc}")
    return out, problems
