"""Sweeps: every N x decree size side by side, and paxos-redis's cost per decree by window."""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import results
import sides
from results import dig, fmt, markdown, max_rss, ratio

from paxos_redis.tools.local_parliament import Children


def _phase(px: dict[str, Any] | None, mode: str) -> dict[str, Any] | None:
    return next((p for p in (px or {}).get("phases", []) if p["mode"] == mode), None)


def size_row(n: int, size: int, px: dict[str, Any] | None, ps: dict[str, Any] | None) -> list[str]:
    seq, sat = _phase(px, "seq"), _phase(px, "saturated")
    pseq, ptput = dig(ps, "seq"), dig(ps, "tput")
    pairs = [(dig(seq, "latency_ms", "p50"), dig(pseq, "latency_ms", "p50")),
             (dig(seq, "latency_ms", "p99"), dig(pseq, "latency_ms", "p99")),
             (dig(sat, "decrees_per_s"), dig(ptput, "decrees_per_s")),
             (dig(sat, "cpu_us_per_decree", "priests"), dig(ptput, "cpu_us_per_decree", "replicas"))]
    row = [str(n), f"{size:,}"]
    for x, y in pairs:
        row += [fmt(x), fmt(y), ratio(x, y)]
    rss = max_rss([p["peak_rss_kib"] for p in (px or {}).get("priests", [])])
    return row + [fmt(dig(sat, "redis_commands_per_decree")), fmt(rss, 1)]


SIZE_HEADER = ["replicas", "decree bytes"] + [
    f"{what} {side}" for what in ("seq p50 ms", "seq p99 ms", "decrees/s", "replica CPU-us/decree")
    for side in ("paxos-redis", "PySyncObj", "ratio")] + ["Redis cmds/decree", "peak RSS/priest MiB"]


def sizes(a: argparse.Namespace, command: str) -> int:
    """``--sweep``: paxos-redis (seq + saturated at ``--window``) and PySyncObj (seq + the
    same window) for every replica count x decree size."""
    started = dt.datetime.now(dt.timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix="paxos-bench-sweep-"))
    children = Children(tmp / "logs")
    children.logdir.mkdir()
    rows, raw, problems = [], [], []
    try:
        for n in a.sweep_priests:
            for size in a.sweep_payloads:
                if not a.quiet:
                    print(f"sweep: {n} replicas, {size}-byte decrees", file=sys.stderr, flush=True)
                px, bad = sides.paxos_side(a, priests=n, payload=size, modes=("seq", "saturated"),
                                           windows=(a.window,), idle=0.0)
                ps, more = sides.peer_side(a, children, nodes=n, payload=size,
                                           phases=("seq", "tput"))
                problems += bad + more
                rows.append(size_row(n, size, px, ps))
                raw.append({"replicas": n, "payload_bytes": size, "paxos_redis": px,
                            "pysyncobj": ps})
    finally:
        children.stop()
    text = markdown(SIZE_HEADER, rows)
    print()
    print(text)
    _finish(a, started, "sweep", command, text, {"sweep": raw}, problems, tmp, children)
    return 1 if problems else 0


def windows(a: argparse.Namespace, command: str) -> int:
    """``--window-sweep``: paxos-redis saturated at each window, on one parliament."""
    started = dt.datetime.now(dt.timezone.utc)
    px, problems = sides.paxos_side(a, priests=a.priests, payload=a.payload,
                                    modes=("saturated",), windows=tuple(a.window_sweep))
    text = results.window_table(px) if px is not None else "(no figures)"
    print()
    print(text)
    _finish(a, started, "window sweep", command, text, {"paxos_redis": px}, problems, None, None)
    return 1 if problems else 0


def _finish(a: argparse.Namespace, started: dt.datetime, kind: str, command: str, text: str,
            raw: dict[str, Any], problems: list[str], tmp: Path | None,
            children: Children | None) -> None:
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    if not a.no_results:
        notes = [f"Effective: {a.seconds:g} s per phase after {a.warmup:g} s warm-up, "
                 f"{a.payload if kind != 'sweep' else 'each'}-byte decrees, window {a.window}"
                 + (f", {a.priests} priests" if kind != "sweep" else "") + ".",
                 results.machine_line(None), results.DURABILITY.format(fs=_filesystem(raw)),
                 results.CPU_NOTE]
        if kind == "window sweep":
            notes.append("Each row is one saturated phase on the same parliament with that many "
                         "petitions in flight; the president's batches grow with the window, so "
                         "per-decree costs fall. PySyncObj is not in this table.")
        results.append(a.results, f"{started:%Y-%m-%d %H:%M} UTC ({kind})", command, notes,
                       [text], raw, problems)
    if tmp is not None:
        if problems and children is not None:
            print(f"logs kept in {children.logdir}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _filesystem(raw: dict[str, Any]) -> str:
    """The ledgers' filesystem as the first paxos-redis report of ``raw`` found it."""
    reports = [raw.get("paxos_redis")] + [r.get("paxos_redis") for r in raw.get("sweep", [])]
    found = [dig(r, "durability", "ledger_filesystem") for r in reports]
    return next((fs for fs in found if fs), "?")
