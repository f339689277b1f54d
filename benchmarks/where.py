"""Where the time goes: the machine's Redis hop alone, and CPU per decree of each process.

    python benchmarks/where.py [--seconds 6] [--window 1024] [--priests 5]

1. ``transport``: two processes on the parliament's own redis-server, XADD -> XREAD (BLOCK)
   -> XADD -> XREAD, one at a time: the round trip a decree's hops are made of, with no
   Parliament in it (the issue calibrated it at p50 0.31 ms on this machine kind).
2. ``seq`` and ``saturated``: a parliament (:class:`paxos_redis.tools.bench.cluster.Cluster`),
   one blocking citizen petitioning one at a time, then an ``AsyncClient`` with
   ``--window`` petitions in flight; CPU-us per decree of every process, by priest (the
   president marked), of redis-server and of the citizen (this process).

Prints a table; nothing is written to RESULTS.md.  The figures move with the machine:
compare them within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from checkout import REPO  # noqa: E402  (first: this checkout's paxos_redis)

from paxos_redis.citizen.aio import AsyncClient  # noqa: E402
from paxos_redis.citizen.client import Client  # noqa: E402
from paxos_redis.messengers.connection import connect  # noqa: E402
from paxos_redis.tools.bench.cluster import Cluster  # noqa: E402
from paxos_redis.tools.bench.procfs import cpu_seconds  # noqa: E402

ECHO = """
import sys
from paxos_redis.messengers.connection import connect
r, last = connect(sys.argv[1]), b"$"
while True:
    for _, entries in r.xread({"where:ping": last}, block=0, count=10) or []:
        for entry_id, fields in entries:
            last = entry_id
            if b"quit" in fields:
                sys.exit(0)
            r.xadd("where:pong", {"a": "1"})
"""


def transport(url: str, rounds: int = 3000) -> list[float]:
    """Round trips in ms through Redis to an echoing process and back."""
    echo = subprocess.Popen([sys.executable, "-c", ECHO, url], cwd=REPO)
    r = connect(url)
    try:
        time.sleep(0.5)
        last, out = b"0-0", []
        for _ in range(rounds):
            began = time.perf_counter()
            r.xadd("where:ping", {"a": "1"})
            while True:
                got: Any = r.xread({"where:pong": last}, block=1000, count=10)
                if got:
                    last = got[0][1][-1][0]
                    break
            out.append((time.perf_counter() - began) * 1000)
        r.xadd("where:ping", {"quit": "1"})
        echo.wait(10)
        return out
    finally:
        if echo.poll() is None:
            echo.kill()
        r.delete("where:ping", "where:pong")
        r.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def processes(cluster: Cluster) -> dict[str, int]:
    raw = cluster.redis.get(cluster.keys.president())
    president = raw.decode() if isinstance(raw, bytes) else raw
    named = {f"priest {priest}{' (president)' if priest == president else ''}": pid
             for pid, priest in sorted(cluster.identity_of().items(), key=lambda kv: kv[1])}
    assert cluster.redis_proc is not None
    named["redis-server"] = cluster.redis_proc.pid
    named["citizen"] = os.getpid()
    return named


def cpu(named: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) or 0.0 for name, pid in named.items()}


def per_decree(before: dict[str, float], after: dict[str, float],
               done: int) -> dict[str, float]:
    return {name: (after[name] - before[name]) / max(done, 1) * 1e6 for name in before}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--priests", type=int, default=5)
    a = ap.parse_args()
    cluster = Cluster(priests=a.priests, workdir=Path(tempfile.mkdtemp(prefix="paxos-where-")))
    cluster.start()
    try:
        trips = transport(cluster.url)
        print(f"transport round trip (XADD, XREAD, XADD, XREAD), {len(trips)} rounds: "
              f"p50 {pct(trips, 0.5):.3f} ms, p90 {pct(trips, 0.9):.3f}, "
              f"p99 {pct(trips, 0.99):.3f}, mean {statistics.fmean(trips):.3f}")
        with Client.from_url(cluster.url, parliament=cluster.parliament) as citizen:
            for _ in range(200):
                citizen.petition(b"x" * 100)
            named = processes(cluster)

            before, began, done = cpu(named), time.monotonic(), 0
            while time.monotonic() < began + a.seconds:
                citizen.petition(b"x" * 100)
                done += 1
            seconds = time.monotonic() - began
            results = {"seq": (done, seconds, per_decree(before, cpu(named), done))}

        async def saturated() -> tuple[int, float, dict[str, float]]:
            async with AsyncClient.from_url(cluster.url, parliament=cluster.parliament) as c:
                stop, count = False, [0]

                async def slot() -> None:
                    while not stop:
                        await c.petition(b"x" * 100)
                        count[0] += 1
                tasks = [asyncio.create_task(slot()) for _ in range(a.window)]
                await asyncio.sleep(2)                          # warm-up
                before, start, began = cpu(named), count[0], time.monotonic()
                await asyncio.sleep(a.seconds)
                done, seconds = count[0] - start, time.monotonic() - began
                after = cpu(named)
                stop = True
                await asyncio.gather(*tasks)
                return done, seconds, per_decree(before, after, done)
        results[f"saturated w{a.window}"] = asyncio.run(saturated())
        print(f"\n| process | {' | '.join(results)} |\n|---|" + "---:|" * len(results))
        for name in named:
            print(f"| {name} | " + " | ".join(f"{r[2][name]:,.1f}" for r in results.values()) + " |")
        print("| **all** | " + " | ".join(f"{sum(r[2].values()):,.1f}" for r in results.values())
              + " |")
        print("| decrees/s | " + " | ".join(f"{r[0] / r[1]:,.0f}" for r in results.values()) + " |")
        print("\n(CPU-us per decree; utime+stime from /proc; the citizen is this process)")
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
