"""The benchmark's report as text (one row per phase) and as a JSON file."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any


def num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    return ["  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
            for cells in [header, *rows]]


def phase_rows(phases: list[dict[str, Any]]) -> list[str]:
    header = ["phase", "decrees/s", "p50", "p90", "p99", "max ms", "priests", "god",
              "citizens", "redis", "CPU-us/decree", "cmds/decree", "errors"]
    rows = []
    for p in phases:
        lat, cpu = p["latency_ms"], p["cpu_us_per_decree"]
        rows.append([p["label"], num(p["decrees_per_s"]), num(lat["p50"], 2), num(lat["p90"], 2),
                     num(lat["p99"], 2), num(lat["max"], 2), num(cpu["priests"], 0),
                     num(cpu["god"], 0), num(cpu["citizens"], 0), num(cpu["redis_server"], 0),
                     num(cpu["total"], 0), num(p["redis_commands_per_decree"], 2),
                     num(p["errors"])])
    return _table(header, rows)


def text(report: dict[str, Any]) -> str:
    c, d = report["config"], report.get("durability", {})
    out = [f"paxos-redis bench: {c['priests']} priests, {c['payload_bytes']}-byte decrees, "
           f"{c['seconds']:g} s per phase after {c['warmup_seconds']:g} s warm-up; "
           f"Redis: {c['redis']}; ledgers fsynced on {d.get('ledger_filesystem', '?')}"
           + (f"; rules {c['rules']}" if c.get("rules") else ""), ""]
    out += phase_rows(report.get("phases", []))
    out.append("(latency in ms; CPU-us per decree by process role, total = all roles; "
               "x 1e-3 = CPU-s per 1,000 decrees)")
    idle = report.get("idle")
    if idle:
        ms = idle["cpu_ms_per_s"]
        out.append(f"idle: priests {num(ms['priests'])} ms/s, god {num(ms['god'])} ms/s, "
                   f"redis-server {num(ms['redis_server'])} ms/s CPU; "
                   f"{num(idle['redis_commands_per_s'], 0)} Redis commands/s")
    priests = report.get("priests", [])
    if priests:
        out.append("peak RSS per priest (MiB): " + ", ".join(
            f"{_priest(p)}: {num(None if p['peak_rss_kib'] is None else p['peak_rss_kib'] / 1024)}"
            for p in priests))
    streams = report.get("streams", {})
    if streams:
        prefix = f"paxos:{{{report.get('parliament', '')}}}:"
        out.append("stream lengths at the end: " + ", ".join(
            f"{k.removeprefix(prefix)} {v:,}" for k, v in streams.items()))
    return "\n".join(out)


def write_json(report: dict[str, Any], path: str) -> None:
    """``path`` ``-`` is stdout."""
    body = json.dumps(report, indent=1, allow_nan=False, default=str) + "\n"
    if path == "-":
        sys.stdout.write(body)
    else:
        Path(path).write_text(body)


def _priest(p: dict[str, Any]) -> str:
    """A priest by identity, or by pid when no heartbeat named it."""
    who = p.get("priest")
    return f"priest {who}" if who is not None else f"pid {p['pid']} (identity unknown)"

