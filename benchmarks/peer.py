"""The peer: PySyncObj (Raft in pure Python), measured the way paxos-redis is.

    python benchmarks/peer.py --role node --addrs A,B,C --index I --batch 0|1
    python benchmarks/peer.py --role client --addrs A,B,C --pids P,Q,R --window W ...

:func:`run_pso` starts N node processes on loopback ports (each a ``SyncObj`` with a
``@replicated`` append) and a separate client process (a read-only ``SyncObj`` node,
which forwards each call to the leader and learns its commit), and returns the
client's JSON.  ``--window 1``: blocking ``sync=True`` calls, one at a time (with
``appendEntriesUseBatch=False``); otherwise callbacks with ``W`` in flight.

Durability: PySyncObj keeps its journal in memory unless given a journal file, and
never fsyncs; this peer runs it that way (its default).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from paxos_redis.tools.bench.cluster import free_port
from paxos_redis.tools.bench.measure import latency_ms
from paxos_redis.tools.bench.procfs import cpu_seconds, peak_rss_kib
from paxos_redis.tools.local_parliament import Children

HERE = Path(__file__).resolve()
DURABILITY = "in-memory journal, no fsync (PySyncObj's default)"


def pso_conf(batch: bool) -> Any:
    from pysyncobj import SyncObjConf
    kw = {} if batch else {"appendEntriesUseBatch": False}
    return SyncObjConf(dynamicMembershipChange=False, **kw)


def pso_class() -> Any:
    from pysyncobj import SyncObj, replicated

    class Counter(SyncObj):
        def __init__(self, self_addr: str | None, partners: list[str], conf: Any) -> None:
            super().__init__(self_addr, partners, conf)
            self.count, self.nbytes = 0, 0

        @replicated
        def append(self, data: bytes) -> int:
            self.count += 1
            self.nbytes += len(data)
            return self.count

    return Counter


def node(a: argparse.Namespace) -> None:
    addrs = a.addrs.split(",")
    me = addrs[a.index]
    obj = pso_class()(me, [x for x in addrs if x != me], pso_conf(a.batch == "1"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(3600)
    obj.destroy()


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(p) or 0.0 for p in pids)


def _sequential(obj: Any, payload: bytes, seconds: float) -> list[int]:
    lat: list[int] = []
    end = time.perf_counter() + seconds
    while (s := time.perf_counter()) < end:
        obj.append(payload, sync=True, timeout=10)
        lat.append(round((time.perf_counter() - s) * 1e6))
    return lat


def _windowed(obj: Any, payload: bytes, seconds: float, window: int) -> tuple[list[int], int]:
    sem, lock = threading.Semaphore(window), threading.Lock()
    lat: list[int] = []
    errors = [0]

    def make_cb(s: float) -> Any:
        def cb(res: Any, err: Any) -> None:
            with lock:
                if err == 0 or err is None:
                    lat.append(round((time.perf_counter() - s) * 1e6))
                else:
                    errors[0] += 1
            sem.release()
        return cb

    end = time.perf_counter() + seconds
    while (s := time.perf_counter()) < end:
        if sem.acquire(timeout=max(0.001, end - s)):
            obj.append(payload, callback=make_cb(time.perf_counter()))
    with lock:
        measured = list(lat)
    for _ in range(window):                        # drain (bounded)
        sem.acquire(timeout=max(0.0, 10 - (time.perf_counter() - end)))
    return measured, errors[0]


def client(a: argparse.Namespace) -> None:
    pids = [int(x) for x in a.pids.split(",")]
    obj = pso_class()(None, a.addrs.split(","), pso_conf(a.batch == "1"))   # read-only node
    payload = b"x" * a.payload
    deadline = time.monotonic() + 60
    while True:
        try:
            if obj.append(payload, sync=True, timeout=5) is not None:
                break
        except Exception:                          # noqa: BLE001 - no leader yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    warm_end = time.monotonic() + a.warmup
    while time.monotonic() < warm_end:
        obj.append(payload, sync=True, timeout=10)
    cpu0 = _cpu(pids)
    time.sleep(1.0)                                # idle baseline
    idle = {"nodes_cpu_ms_per_s": (_cpu(pids) - cpu0) * 1e3}
    cpu0, own0, t0 = _cpu(pids), cpu_seconds(os.getpid()) or 0.0, time.perf_counter()
    if a.window == 1:
        lat, errors = _sequential(obj, payload, a.seconds), 0
    else:
        lat, errors = _windowed(obj, payload, a.seconds, a.window)
    elapsed = time.perf_counter() - t0
    cpu1, own1 = _cpu(pids), cpu_seconds(os.getpid()) or 0.0
    n = max(1, len(lat))
    print(json.dumps({"decrees": len(lat), "seconds": elapsed, "decrees_per_s": len(lat) / elapsed,
                      "latency_ms": latency_ms(lat), "window": a.window, "errors": errors,
                      "cpu_us_per_decree": {"replicas": (cpu1 - cpu0) / n * 1e6,
                                            "client": (own1 - own0) / n * 1e6},
                      "peak_rss_kib": [peak_rss_kib(p) for p in pids], "idle": idle}),
          flush=True)
    obj.destroy()


def run_pso(children: Children, *, phase: str, nodes: int, window: int, seconds: float,
            warmup: float, payload: int) -> dict[str, Any]:
    """One PySyncObj phase (``seq``: no batching, one at a time; else ``window`` in flight)."""
    import subprocess
    addrs = ",".join(f"127.0.0.1:{free_port()}" for _ in range(nodes))
    batch = "0" if phase == "seq" else "1"
    procs = [children.spawn(f"pso-{phase}-node-{i}",
                            [sys.executable, str(HERE), "--role", "node", "--addrs", addrs,
                             "--index", str(i), "--batch", batch]) for i in range(nodes)]
    name = f"pso-{phase}-client"
    argv = [sys.executable, str(HERE), "--role", "client", "--addrs", addrs, "--batch", batch,
            "--pids", ",".join(str(p.pid) for p in procs), "--seconds", str(seconds),
            "--warmup", str(warmup), "--payload", str(payload), "--window", str(window)]
    try:
        proc = children.spawn(name, argv, pipes=True)
        try:
            out, _ = proc.communicate(timeout=2 * seconds + warmup + 120)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{name} did not finish in time:\n{proc.tail()}") from exc
        lines = out.decode().strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{name} failed (rc {proc.returncode}):\n{proc.tail()}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result
    finally:
        children.stop(procs)


def version() -> str:
    try:
        from importlib.metadata import version as dist_version
        return dist_version("pysyncobj")
    except Exception:                              # noqa: BLE001 - reported as such
        return "not installed"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=("node", "client"), required=True)
    ap.add_argument("--addrs", required=True)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--batch", default="1")
    ap.add_argument("--pids", default="")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--payload", type=int, default=100)
    ap.add_argument("--window", type=int, default=1)
    a = ap.parse_args()
    (node if a.role == "node" else client)(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
