"""paxos-redis vs PySyncObj: sequential latency, saturated throughput, CPU and Redis cost.

    python benchmarks/bench.py [--quick] [--seconds 10] [--warmup 2] [--priests 5]
                               [--payload 100] [--window 1024] [--px-window 2048,4096]
                               [--pso-window 1000,2500,3000,3500,3750,5000]
                               [--citizens 1] [--redis URL] [--no-results] [--quiet]
    python benchmarks/bench.py --sweep [--sweep-priests 3,5,7] [--sweep-payloads 10,100,1024,20480]
    python benchmarks/bench.py --window-sweep [1,16,64,256,1024]

The paxos-redis side is ``paxos-redis bench`` (the package's :mod:`paxos_redis.tools.bench`:
its own redis-server, a god and N priest processes with fsynced ledgers, citizen
processes); the peer is PySyncObj (``peer.py``: N node processes and a client process),
with the same number of replicas on the same machine.  It prints one table (both systems
and the ratio paxos-redis / PySyncObj) and appends a dated section to RESULTS.md.
``--sweep`` does that for every N x decree size (shorter phases); ``--window-sweep``
shows how paxos-redis's CPU and Redis commands per decree fall as batches grow.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

import checkout  # noqa: F401  (first: this checkout's paxos_redis, whatever the cwd)
import results  # noqa: E402
import sides  # noqa: E402
import sweep  # noqa: E402

from paxos_redis.tools.local_parliament import Children  # noqa: E402


def priest_profiled(out: str) -> None:
    """``paxos-redis priest`` under cProfile with a CPU-time clock (blocking waits cost 0)."""
    import cProfile

    from paxos_redis.tools.cli import main as cli_main
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        cli_main(["priest"])
    finally:
        prof.disable()
        prof.dump_stats(out)


def busiest_profile(directory: Path) -> str:
    """Top functions (by own time) of the priest that spent the most time (the president)."""
    import io
    import pstats
    best = None
    for f in sorted(directory.glob("priest-*.prof")):
        st = pstats.Stats(str(f))
        if best is None or st.total_tt > best.total_tt:    # type: ignore[attr-defined]
            best = st
    if best is None:
        return "(no profile written)"
    out = io.StringIO()
    best.stream = out                                       # type: ignore[attr-defined]
    best.sort_stats("tottime").print_stats(25)
    best.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def command_line() -> str:
    return ("python benchmarks/bench.py " + " ".join(sys.argv[1:])).strip()


def main_run(a: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="paxos-bench-peer-"))
    children = Children(tmp / "logs")
    children.logdir.mkdir()
    profile_dir = tmp if a.profile_priest else None
    started = dt.datetime.now(dt.timezone.utc)
    if not a.quiet:
        print(f"paxos-redis: {a.priests} priests, {a.seconds:g} s per phase ...", file=sys.stderr)
    px, problems = sides.paxos_side(a, priests=a.priests, payload=a.payload,
                                    modes=("seq", "saturated"),
                                    windows=(a.window, *a.px_window),
                                    profile_dir=profile_dir)
    try:
        ps, more = sides.peer_side(a, children, nodes=a.priests, payload=a.payload)
    finally:
        children.stop()
    problems += more
    if profile_dir is not None:
        print(busiest_profile(profile_dir))
        print("(profiled run: figures are distorted by cProfile; not written to RESULTS.md)")
        a.no_results = True
    text = results.side_by_side(px, ps)
    print()
    print(text)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    if not a.no_results:
        fs = (px or {}).get("durability", {}).get("ledger_filesystem", "?")
        notes = [f"Effective: {a.seconds:g} s per phase after {a.warmup:g} s warm-up, {a.priests} "
                 f"replicas, {a.payload}-byte decrees, paxos-redis window {a.window} and "
                 f"{', '.join(map(str, a.px_window))} ({a.citizens} citizen process(es)), "
                 f"PySyncObj window {a.window} and "
                 f"{', '.join(map(str, a.pso_window))}.", results.machine_line(px),
                 results.DURABILITY.format(fs=fs), results.CPU_NOTE]
        if a.quick:
            notes.append("Note: a quick run (few seconds per phase) on a machine where every "
                         "process (replicas, Redis, clients) competes for the same cores: "
                         "indicative only.")
        title = f"{started:%Y-%m-%d %H:%M} UTC{' (quick run)' if a.quick else ''}"
        results.append(a.results, title, command_line(), notes, [text],
                       {"paxos_redis": px, "pysyncobj": ps}, problems)
    if problems:
        print(f"logs kept in {children.logdir}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if problems else 0


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,16,64, got {text!r}")
    return values


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, help="measured seconds per phase (default 10; "
                    "--quick: at most 3; --sweep: 3)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per phase (default 2; "
                    "--quick and --sweep: 1)")
    ap.add_argument("--priests", type=int, default=5, help="replicas on each side (default 5)")
    ap.add_argument("--payload", type=int, default=100, help="decree bytes (default 100)")
    ap.add_argument("--window", type=int, default=1024,
                    help="in flight, both sides (default 1024)")
    ap.add_argument("--px-window", type=_ints, default=(2048, 4096), metavar="W,W,...",
                    help="paxos-redis petitions in flight in its wide-window phases, one phase "
                         "each; its best counts, as PySyncObj's does (default 2048,4096)")
    ap.add_argument("--pso-window", type=_ints, default=(1000, 2500, 3000, 3500, 3750, 5000),
                    metavar="W,W,...", help="PySyncObj commands in flight in its wide-window "
                    "phases, one phase each; its best counts (default "
                    "1000,2500,3000,3500,3750,5000: its throughput grows with the window up "
                    "to a cliff near 4,000 on this machine kind)")
    ap.add_argument("--citizens", type=int, default=1,
                    help="paxos-redis citizen processes sharing the window (default 1)")
    ap.add_argument("--redis", metavar="URL", help="a running Redis for paxos-redis (default: "
                    "its own redis-server)")
    ap.add_argument("--quick", action="store_true", help="short phases")
    ap.add_argument("--sweep", action="store_true", help="every N x decree size, side by side")
    ap.add_argument("--sweep-priests", type=_ints, default=(3, 5, 7), metavar="N,N,...")
    ap.add_argument("--sweep-payloads", type=_ints, default=(10, 100, 1024, 20480),
                    metavar="B,B,...")
    ap.add_argument("--window-sweep", type=_ints, nargs="?", const=(1, 16, 64, 256, 1024),
                    metavar="W,W,...", help="paxos-redis saturated at each window (default "
                    "1,16,64,256,1024): cost per decree as batches grow")
    ap.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--results", type=Path, default=results.RESULTS, metavar="PATH",
                    help="append to this file instead of benchmarks/RESULTS.md")
    ap.add_argument("--quiet", action="store_true", help="no progress display")
    ap.add_argument("--profile-priest", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--role", default="main", choices=["main", "priest-profiled"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    short = a.quick or a.sweep
    if a.seconds is None:
        a.seconds = 3.0 if short else 10.0
    if a.warmup is None:
        a.warmup = 1.0 if short else 2.0
    if a.quick:
        a.seconds, a.warmup = min(a.seconds, 3.0), min(a.warmup, 1.0)
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    if a.role == "priest-profiled":
        priest_profiled(a.out)
        return 0
    if a.sweep:
        return sweep.sizes(a, command_line())
    if a.window_sweep:
        return sweep.windows(a, command_line())
    return main_run(a)


if __name__ == "__main__":
    sys.exit(main())
