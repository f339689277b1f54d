"""Bounded memory: a real parliament to 1,000,000 decrees; priest RSS, streams and ledgers.

    python benchmarks/memory.py [--decrees 1000000] [--priests 5] [--payload 100]
                                [--inflight 1024] [--batch 256] [--out PATH] [--no-results]

Through :class:`paxos_redis.tools.bench.cluster.Cluster` it starts its own redis-server on a
free port, a god and N priest processes (ledgers fsynced on a real disk), then a
separate citizen process that passes ``--decrees`` petitions with
``AsyncClient.petition_many``, ``--inflight`` at a time in batches of ``--batch``.
At 10%, 25%, 50% and 100% of the run (100k, 250k, 500k and 1M decrees by default) it
records every priest's RSS and peak RSS, the length of every stream and of every
consumer group's pending list, Redis's memory, the ledger and archive file sizes and
the elapsed time.  It prints the JSON, writes it to ``--out`` (default
``benchmarks/memory.json``) and appends a section to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from checkout import HERE  # noqa: E402  (first: this checkout's paxos_redis)

from paxos_redis.errors import BenchError
from paxos_redis.messengers.heartbeat import read_roster  # noqa: E402
from paxos_redis.protocol import Rules  # noqa: E402
from paxos_redis.tools.bench.cluster import Cluster
from paxos_redis.tools.bench.procfs import machine, peak_rss_kib  # noqa: E402

FRACTIONS = (0.10, 0.25, 0.50, 1.00)
SAMPLE_S = 1.0
MIB = 1024


def rss_kib(pid: int) -> int | None:
    """Resident set size now (``VmRSS``), in KiB; None if the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


# ----------------------------------------------------------------- the citizen process

def citizen(a: argparse.Namespace) -> None:
    """Pass ``a.decrees`` petitions, ``a.inflight`` in flight in batches of ``a.batch``."""
    from paxos_redis.citizen.aio import AsyncClient
    from paxos_redis.errors import PaxosError

    payload = b"x" * a.payload
    sent = done = errors = 0

    async def lane(client: AsyncClient) -> None:
        nonlocal sent, done, errors
        while sent < a.decrees:
            count = min(a.batch, a.decrees - sent)
            sent += count
            try:
                numbers = await client.petition_many([payload] * count, timeout=120)
                done += len(numbers)       # after the await: lanes share the counter
            except PaxosError as exc:          # counted; new petitions go on
                errors += count
                print(json.dumps({"error": str(exc)[:200]}), flush=True)

    async def report() -> None:
        while True:
            print(json.dumps({"done": done, "errors": errors}), flush=True)
            await asyncio.sleep(5)

    async def main() -> None:
        async with AsyncClient.from_url(a.redis, parliament=a.parliament) as client:
            reporter = asyncio.create_task(report())
            await asyncio.gather(*(lane(client) for _ in range(max(1, a.inflight // a.batch))))
            reporter.cancel()
    asyncio.run(main())
    print(json.dumps({"result": {"done": done, "errors": errors}}), flush=True)


# ----------------------------------------------------------------- measuring

def pending(redis: Any, stream: str) -> int:
    total = 0
    with contextlib.suppress(Exception):
        for group in redis.xinfo_groups(stream):
            total += int(group.get("pending", group.get(b"pending", 0)))
    return total


def files(ledgers: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(ledgers.iterdir())
            if p.is_file() and not p.name.endswith(".lock")}


def snapshot(cluster: Cluster, began: float, known: dict[str, int]) -> dict[str, Any]:
    """One checkpoint: every figure the issue asks about, at this moment (priests by
    identity)."""
    names = cluster.identity_of()
    priests = {}
    for pid, priest in sorted(names.items(), key=lambda kv: kv[1]):
        priests[priest] = {"pid": pid, "known": known.get(priest), "rss_kib": rss_kib(pid),
                           "peak_rss_kib": peak_rss_kib(pid)}
    streams = cluster.stream_lengths()
    memory = cluster.redis.info("memory")
    sizes = files(cluster.ledger_dir)
    return {
        "elapsed_s": round(time.monotonic() - began, 1),
        "known": max(known.values(), default=0),
        "priests": priests,
        "god_rss_kib": rss_kib(cluster.god.pid) if cluster.god else None,
        "redis": {"used_memory": int(memory["used_memory"]),
                  "rss_kib": rss_kib(cluster.redis_proc.pid) if cluster.redis_proc else None},
        "streams": streams,
        "pending": {s: pending(cluster.redis, s) for s in streams},
        "files": sizes,
        "ledger_bytes_max": max((v for k, v in sizes.items() if k.endswith(".ledger")), default=0),
        "archive_bytes_max": max((v for k, v in sizes.items() if k.endswith(".law")), default=0),
    }


_ENDED: dict[int, float] = {}


def done_at(proc: Any) -> float:
    """When we first saw ``proc`` finished (monotonic)."""
    return _ENDED.setdefault(proc.pid, time.monotonic())


def knowns(cluster: Cluster) -> dict[str, int]:
    """What each priest knows, by identity, from the heartbeats."""
    return {b.name: b.known for b in read_roster(cluster.redis, cluster.keys).values()}


def run(a: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="paxos-memory-"))
    cluster = Cluster(priests=a.priests, workdir=workdir)
    marks = [max(1, round(a.decrees * f)) for f in FRACTIONS]
    checkpoints: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    try:
        cluster.start()
        began = time.monotonic()
        citizen_proc = cluster.children.spawn("citizen", [
            sys.executable, __file__, "--role", "citizen", "--redis", cluster.url,
            "--parliament", cluster.parliament, "--decrees", str(a.decrees),
            "--payload", str(a.payload), "--inflight", str(a.inflight), "--batch", str(a.batch)],
            env=cluster.env())
        base = max(knowns(cluster).values(), default=0)
        while marks:
            cluster.check_alive()
            known = knowns(cluster)
            top = max(known.values(), default=0) - base
            series.append({"t": round(time.monotonic() - began, 1), "decrees": top,
                           "rss_kib": [rss_kib(p.pid) for p in cluster.priests]})
            done = citizen_proc.poll() is not None
            if done and citizen_proc.returncode != 0:
                raise BenchError(f"citizen exited {citizen_proc.returncode}:\n"
                                 f"{citizen_proc.tail()}")
            if done and len(marks) > 1:
                del marks[:-1]                   # it passed fewer than asked: say so at the end
            if top >= marks[0] or (done and (min(known.values()) == max(known.values())
                                             or time.monotonic() - done_at(citizen_proc) > 30)):
                checkpoints.append({"mark": marks.pop(0), **snapshot(cluster, began, known)})
                print(f"{checkpoints[-1]['mark']:>9,} decrees at {checkpoints[-1]['elapsed_s']} s: "
                      f"priest RSS {rss_text(checkpoints[-1])}", flush=True)
                continue
            time.sleep(SAMPLE_S)
        citizen_proc.wait(600)
        return {"decrees": a.decrees, "priests": a.priests, "payload": a.payload,
                "inflight": a.inflight, "batch": a.batch, "rules": rules_text(),
                "ledger_fs": cluster.ledger_fs, "citizen": citizen_proc.tail(1),
                "checkpoints": checkpoints, "series": series[:: max(1, len(series) // 60)]}
    finally:
        cluster.close()


def rules_text() -> dict[str, int]:
    from paxos_redis.runtime.settings import Settings
    rules: Rules = Settings().rules
    return {"law_memory": rules.law_memory, "dedup_window": rules.dedup_window,
            "window": rules.window, "batch": rules.batch}


def rss_text(point: dict[str, Any]) -> str:
    values = [p["rss_kib"] or 0 for p in point["priests"].values()]
    return f"{min(values) / MIB:.1f}-{max(values) / MIB:.1f} MiB" if values else "?"


# ----------------------------------------------------------------- the report

def table(result: dict[str, Any]) -> str:
    rows = ["| decrees | elapsed (s) | decrees/s | priest RSS (MiB) | priest peak RSS (MiB) "
            "| longest stream | pending | Redis used (MiB) | ledger max (KiB) | archive max (MiB) |",
            "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for point in result["checkpoints"]:
        peaks = [p["peak_rss_kib"] or 0 for p in point["priests"].values()]
        rows.append(
            f"| {point['mark']:,} | {point['elapsed_s']:,.0f} | "
            f"{point['mark'] / max(point['elapsed_s'], 0.1):,.0f} | {rss_text(point)} | "
            f"{max(peaks, default=0) / MIB:.1f} | {max(point['streams'].values(), default=0):,} | "
            f"{sum(point['pending'].values()):,} | "
            f"{point['redis']['used_memory'] / 2**20:.1f} | {point['ledger_bytes_max'] / 1024:,.0f} | "
            f"{point['archive_bytes_max'] / 2**20:,.1f} |")
    return "\n".join(rows)


def write_results(a: argparse.Namespace, result: dict[str, Any], started: dt.datetime) -> None:
    m = machine()
    last = result["checkpoints"][-1]
    lines = [f"\n## {started:%Y-%m-%d %H:%M} UTC: bounded memory, {a.decrees:,} decrees\n",
             f"Command: `python benchmarks/memory.py {' '.join(sys.argv[1:])}`".rstrip()
             + f" ({a.priests} priests, fsync on, ledgers on {result['ledger_fs']}, "
             f"{a.payload}-byte decrees, {a.inflight} in flight via petition_many batches of "
             f"{a.batch}; rules {result['rules']})\n",
             f"Machine: nproc={m['nproc']}, CPU: {m['cpu']}, Python {m['python']}, "
             f"{m['redis_server']}, Linux {m['kernel']}\n",
             "", table(result), "",
             f"Streams at the end: {json.dumps(last['streams'])}; pending: "
             f"{json.dumps(last['pending'])}.", "",
             f"Files at the end (bytes): {json.dumps(last['files'])}.", ""]
    with open(HERE / "RESULTS.md", "a") as fh:
        fh.write("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decrees", type=int, default=1_000_000)
    ap.add_argument("--priests", type=int, default=5)
    ap.add_argument("--payload", type=int, default=100)
    ap.add_argument("--inflight", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--out", type=Path, default=HERE / "memory.json")
    ap.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--role", default="main", choices=["main", "citizen"])
    ap.add_argument("--redis")
    ap.add_argument("--parliament")
    a = ap.parse_args()
    if a.role == "citizen":
        citizen(a)
        return 0
    started = dt.datetime.now(dt.timezone.utc)
    try:
        result = run(a)
    except BenchError as exc:
        print(f"memory benchmark failed: {exc}", file=sys.stderr)
        return 1
    result.update(started=f"{started:%Y-%m-%d %H:%M} UTC", machine=machine(),
                  command="python benchmarks/memory.py " + " ".join(sys.argv[1:]))
    text = json.dumps(result, indent=1)
    print(text)
    a.out.write_text(text + "\n")
    print(table(result))
    if not a.no_results:
        write_results(a, result, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
