"""``paxos-redis bench``: its options and what it prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from paxos_redis.errors import BenchError, CliError, SettingsError
from paxos_redis.runtime.settings import parse_rules
from paxos_redis.tools.bench.progress import Progress
from paxos_redis.tools.bench.report import text, write_json
from paxos_redis.tools.bench.runner import BenchOptions
from paxos_redis.tools.bench.runner import run as run_bench


def _number(kind: type, minimum: float, strict: bool = False) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(
                f"must be {'>' if strict else '>='} {minimum:g}, got {text!r}")
        return value
    return parse


def _windows(text: str) -> tuple[int, ...]:
    try:
        windows = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        windows = ()
    if not windows or min(windows) < 1:
        raise argparse.ArgumentTypeError(
            f"expected petitions in flight, one number or a list like 1,16,64, got {text!r}")
    return windows


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench", help="benchmark a parliament here: latency, throughput, CPU and Redis cost",
        description="Start redis-server (or use --redis), a god and N priest processes with "
        "fsynced ledgers, drive petitions from citizen processes for a fixed time after a "
        "warm-up, and print decrees/s, latency percentiles, CPU per 1,000 decrees by role, "
        "Redis commands per decree, peak RSS per priest and stream lengths.")
    p.add_argument("--redis", dest="redis_url", metavar="URL",
                   help="use this Redis (default: start our own redis-server on a free port); "
                   "its command counts then include every other client's")
    p.add_argument("--priests", type=_number(int, 1), default=5, help="priest processes (default 5)")
    p.add_argument("--payload", type=_number(int, 0), default=100, metavar="BYTES",
                   help="decree size in bytes (default 100)")
    p.add_argument("--mode", choices=("seq", "saturated", "both"), default="both",
                   help="seq: one petition at a time (latency); saturated: many in flight "
                   "(throughput); default both")
    p.add_argument("--window", "--windows", dest="windows", type=_windows, default=(64,),
                   metavar="W[,W...]", help="petitions in flight in saturated mode; a list runs "
                   "one phase per window (default 64)")
    p.add_argument("--citizens", type=_number(int, 1), default=1, metavar="M",
                   help="citizen processes sharing the saturated window (default 1)")
    p.add_argument("--seconds", type=_number(float, 0, strict=True), default=10.0,
                   help="measured seconds per phase (default 10)")
    p.add_argument("--warmup", type=_number(float, 0), default=2.0,
                   help="seconds of load before each measurement (default 2)")
    p.add_argument("--idle", type=_number(float, 0), default=1.0,
                   help="seconds of idle baseline (CPU with nothing to do); 0 skips (default 1)")
    p.add_argument("--timeout", type=_number(float, 0, strict=True), default=30.0,
                   help="seconds a petition may take before it counts as an error (default 30)")
    p.add_argument("--ledger-dir", type=Path, help="where the priests' ledgers go (default: a "
                   "fresh directory in /var/tmp, removed afterwards); put it on the disk to test")
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON "
                   "(- for stdout, which then gets no table)")
    p.add_argument("--rules", type=_rules, metavar="NAME=VALUE,...",
                   help="rules of procedure for the priests, as PAXOS_RULES takes them "
                        "(e.g. window=512,batch=512); default: the priests' own")
    p.add_argument("--keep", action="store_true", help="keep the logs and ledgers")
    p.add_argument("--quiet", action="store_true", help="no progress display on stderr")


def _rules(text: str) -> str:
    """``--rules``: checked as a priest would check PAXOS_RULES, passed on as given."""
    try:
        parse_rules(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run(args: argparse.Namespace) -> int:
    modes = ("seq", "saturated") if args.mode == "both" else (args.mode,)
    try:
        options = BenchOptions(priests=args.priests, payload=args.payload, modes=modes,
                               windows=args.windows, citizens=args.citizens,
                               seconds=args.seconds, warmup=args.warmup, idle=args.idle,
                               timeout=args.timeout, redis_url=args.redis_url,
                               ledger_dir=args.ledger_dir, keep=args.keep, rules=args.rules)
        report = run_bench(options, Progress(quiet=args.quiet))
    except (BenchError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.json != "-":
        print(text(report))
    if args.json:
        write_json(report, args.json)
    errors = sum(p["errors"] for p in report["phases"])
    if errors:
        print(f"paxos-redis: bench: warning: {errors} petitions failed or timed out "
              f"(--timeout {args.timeout:g})", file=sys.stderr)
    return 0
