"""Side-by-side tables (paxos-redis, PySyncObj, their ratio) and the RESULTS.md sections."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import peer

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def ratio(x: Any, y: Any) -> str:
    try:
        return f"{x / y:.2f}x"
    except (TypeError, ZeroDivisionError):
        return "-"


def dig(d: Any, *path: Any) -> Any:
    """``d[p0][p1]...`` or None when any step is missing."""
    for step in path:
        if d is None:
            return None
        try:
            d = d[step]
        except (KeyError, IndexError, TypeError):
            return None
    return d


def markdown(header: list[str], rows: list[list[str]]) -> str:
    aligns = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def mib(kib: Any) -> float | None:
    return None if kib is None else kib / 1024


def max_rss(values: list[Any] | None) -> float | None:
    known = [v for v in values or [] if v is not None]
    return mib(max(known)) if known else None


def side_by_side(px: dict[str, Any] | None, ps: dict[str, Any] | None) -> str:
    """The main table: paxos-redis's report (seq, then saturated at the shared window and at
    wider ones) and PySyncObj's phases; each side's best throughput against the other's."""
    phases = (px or {}).get("phases", [])
    seq = next((p for p in phases if p["mode"] == "seq"), None)
    sats = [p for p in phases if p["mode"] == "saturated"]
    sat = sats[0] if sats else None              # the window both sides share; then wider ones
    pseq, ptput = dig(ps, "seq"), dig(ps, "tput")
    wide = [v for k, v in (ps or {}).items() if k.startswith("tput-wide-") and isinstance(v, dict)]
    rows: list[tuple[str, Any, Any]] = []
    for name, x, y in (("sequential", seq, pseq), ("throughput", sat, ptput)):
        rows += [(f"{name} decrees/s", dig(x, "decrees_per_s"), dig(y, "decrees_per_s"))]
        rows += [(f"{name} {k} (ms)", dig(x, "latency_ms", k), dig(y, "latency_ms", k))
                 for k in ("p50", "p90", "p99", "max")]
        rows += [(f"{name} replica CPU-us/decree", dig(x, "cpu_us_per_decree", "priests"),
                  dig(y, "cpu_us_per_decree", "replicas")),
                 (f"{name} citizen CPU-us/decree", dig(x, "cpu_us_per_decree", "citizens"),
                  dig(y, "cpu_us_per_decree", "client"))]
    rows += [("throughput in flight", dig(sat, "window"), dig(ptput, "window"))]
    for w in wide:
        n = fmt(w.get("window"))
        rows += [(f"PySyncObj {n} in flight: decrees/s", None, dig(w, "decrees_per_s")),
                 (f"PySyncObj {n} in flight: p50 (ms)", None, dig(w, "latency_ms", "p50")),
                 (f"PySyncObj {n} in flight: replica CPU-us/decree", None,
                  dig(w, "cpu_us_per_decree", "replicas"))]
    for p in sats[1:]:
        n = fmt(p.get("window"))
        rows += [(f"paxos-redis {n} in flight: decrees/s", dig(p, "decrees_per_s"), None),
                 (f"paxos-redis {n} in flight: p50 (ms)", dig(p, "latency_ms", "p50"), None),
                 (f"paxos-redis {n} in flight: replica CPU-us/decree",
                  dig(p, "cpu_us_per_decree", "priests"), None)]

    def best_of(candidates: list[Any]) -> Any:
        return max([p for p in candidates if dig(p, "decrees_per_s") is not None],
                   key=lambda p: p["decrees_per_s"], default=None)

    best, px_best = best_of([ptput, *wide]), best_of(sats)
    rows += [("best throughput, decrees/s (the target: 3x)", dig(px_best, "decrees_per_s"),
              dig(best, "decrees_per_s")),
             ("best throughput: in flight", dig(px_best, "window"), dig(best, "window")),
             ("idle replica CPU (ms per s, all replicas)", dig(px, "idle", "cpu_ms_per_s", "priests"),
              dig(pseq, "idle", "nodes_cpu_ms_per_s")),
             ("peak RSS per replica, max (MiB)",
              max_rss([p["peak_rss_kib"] for p in (px or {}).get("priests", [])]),
              max_rss(dig(ptput, "peak_rss_kib"))),
             ("idle god CPU (ms per s)", dig(px, "idle", "cpu_ms_per_s", "god"), None),
             ("idle redis-server CPU (ms per s)", dig(px, "idle", "cpu_ms_per_s", "redis_server"),
              None),
             ("idle Redis commands per s", dig(px, "idle", "redis_commands_per_s"), None)]
    for label, p in (("seq", seq), ("tput", sat)):
        rows += [(f"god CPU-us/decree ({label})", dig(p, "cpu_us_per_decree", "god"), None),
                 (f"redis-server CPU-us/decree ({label})",
                  dig(p, "cpu_us_per_decree", "redis_server"), None),
                 (f"all processes CPU-us/decree ({label})", dig(p, "cpu_us_per_decree", "total"),
                  None),
                 (f"Redis commands/decree ({label})", dig(p, "redis_commands_per_decree"), None)]
    out = []
    for name, x, y in rows:
        r = ratio(x, y) if x is not None and y is not None and "in flight" not in name else "-"
        out.append([name, fmt(x), fmt(y), r])
    return markdown(["figure", "paxos-redis", "PySyncObj", "paxos-redis / PySyncObj"], out)


def window_table(px: dict[str, Any]) -> str:
    """Cost per decree as the window (and so the president's batches) grows."""
    rows = []
    for p in px.get("phases", []):
        cpu, by = p["cpu_us_per_decree"], p["redis_commands_per_decree_by_name"]
        rows.append([fmt(p["window"]), fmt(p["decrees_per_s"], 0), fmt(p["latency_ms"]["p50"]),
                     fmt(p["latency_ms"]["p99"]), fmt(cpu["priests"], 0), fmt(cpu["god"], 0),
                     fmt(cpu["citizens"], 0), fmt(cpu["redis_server"], 0), fmt(cpu["total"], 0),
                     fmt(p["redis_commands_per_decree"]), fmt(by.get("xadd")),
                     fmt(by.get("xreadgroup")), fmt(by.get("xack"))])
    return markdown(["in flight", "decrees/s", "p50 ms", "p99 ms", "priests CPU-us/decree",
                     "god", "citizens", "redis-server", "all", "Redis cmds/decree", "XADD",
                     "XREADGROUP", "XACK"], rows)


def machine_line(px: dict[str, Any] | None) -> str:
    from paxos_redis.tools.bench.procfs import machine
    m = (px or {}).get("machine") or machine()
    return (f"Machine: nproc={m['nproc']}, CPU: {m['cpu']}, Python {m['python']}, "
            f"{m['redis_server']}, PySyncObj {peer.version()}, Linux {m['kernel']}")


DURABILITY = ("Durability: paxos-redis fsyncs every priest's ledger before it answers (each batch, "
              "one fsync; ledgers on {fs}); PySyncObj ran with " + peer.DURABILITY + ".")
CPU_NOTE = ("CPU = utime+stime over the measured interval divided by the decrees passed in it: "
            "replica = the priest (resp. node) processes; citizen = the load processes "
            "(resp. the PySyncObj client node); god, redis-server (its INFO cpu) and the sum of "
            "all shown separately.")


def append(path: Path, title: str, command: str, notes: list[str], tables: list[str],
           raw: dict[str, Any], problems: list[str]) -> None:
    """A dated section at the end of ``path`` (RESULTS.md unless ``--results``); the raw
    figures go to a JSON file of their own beside it, in ``results/``, which it links."""
    lines = [f"\n## {title}\n", f"Command: `{command}`\n", *[n + "\n" for n in notes]]
    for t in tables:
        lines += ["", t, ""]
    raw_path = raw_file(path, title)
    raw_path.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    link = raw_path.relative_to(path.parent).as_posix()
    lines += [f"Raw figures: [{link}]({link})"]
    if problems:
        lines += ["", "Problems:", ""] + [f"- {p.splitlines()[0]}" for p in problems]
    with open(path, "a") as fh:
        if fh.tell() == 0:
            fh.write("# Benchmark results\n\nAppended by `benchmarks/bench.py`; newest last. "
                     "The raw figures of each run are in `results/`, linked from its section.\n")
        fh.write("\n".join(lines) + "\n")


def raw_file(results: Path, title: str) -> Path:
    """A new file in ``results/`` beside ``results`` named after the section's title
    (``2026-11-30 01:04 UTC (sweep)`` -> ``2026-11-30-0104-sweep.json``)."""
    folder = results.parent / "results"
    folder.mkdir(exist_ok=True)
    slug = "-".join(re.findall(r"[a-z0-9]+", title.lower().replace(":", "")))
    slug = slug.replace("-utc", "")
    candidate, i = folder / f"{slug}.json", 2
    while candidate.exists():
        candidate, i = folder / f"{slug}-{i}.json", i + 1
    return candidate
