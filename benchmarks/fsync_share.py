"""What the ledger's fsync costs a sequential petition: the same run with ledgers on disk
and on tmpfs, alternating.

    python benchmarks/fsync_share.py [--pairs 3] [--seconds 5] [--warmup 2] [--priests 5] [--tmpfs /dev/shm]

Each pair runs ``paxos-redis bench --mode seq`` twice: ledgers on the disk (the default,
``/var/tmp``), then in a fresh directory on tmpfs, where fsync returns at once.  A ledger on
tmpfs is NOT durable: this only measures how much of a petition's latency the fsyncs take,
with everything else the same.  Prints p50/p90/p99 per run and the median of each side;
nothing is written to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from checkout import REPO  # noqa: E402  (first: this checkout's paxos_redis)


def run(args: argparse.Namespace, ledger_dir: str | None) -> dict[str, Any]:
    """One sequential phase: its ledgers' filesystem, rate and latency percentiles in ms."""
    command = [sys.executable, "-m", "paxos_redis.tools.cli", "bench", "--mode", "seq", "--idle", "0",
               "--quiet", "--seconds", str(args.seconds), "--warmup", str(args.warmup),
               "--priests", str(args.priests), "--json", "-"]
    if ledger_dir is not None:
        command += ["--ledger-dir", ledger_dir]
    out = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    [phase] = report["phases"]
    return {"fs": report["durability"]["ledger_filesystem"], **phase["latency_ms"],
            "rate": phase["decrees_per_s"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--priests", type=int, default=5)
    parser.add_argument("--tmpfs", default="/dev/shm", help="a tmpfs mount (default /dev/shm)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.tmpfs):
        parser.error(f"{args.tmpfs} is not a directory")
    rows: dict[str, list[dict[str, Any]]] = {"disk": [], "tmpfs": []}
    for _ in range(args.pairs):
        rows["disk"].append(run(args, None))
        with tempfile.TemporaryDirectory(dir=args.tmpfs, prefix="paxos-fsync-share-") as tmp:
            rows["tmpfs"].append(run(args, os.path.join(tmp, "ledgers")))
    print(f"{args.priests} priests, 100 B, one petition at a time, {args.seconds:g} s per run\n")
    print("| ledgers | filesystem | decrees/s | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for side, results in rows.items():
        for r in results:
            print(f"| {side} | {r['fs']} | {r['rate']:,.0f} | {r['p50']:.2f} | {r['p90']:.2f} "
                  f"| {r['p99']:.2f} |")
    disk, tmpfs = (statistics.median(r["p50"] for r in rows[s]) for s in ("disk", "tmpfs"))
    print(f"\nmedian p50: disk {disk:.2f} ms, tmpfs {tmpfs:.2f} ms: the fsyncs take "
          f"{disk - tmpfs:.2f} ms of a petition's p50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
