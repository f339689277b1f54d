"""paxos-redis vs PySyncObj: sequential latency, saturated throughput, CPU and Redis cost.

    python benchmarks/bench.py [--seconds 10] [--priests 5] [--payload 100] [--window 64]
                               [--pso-window 1000] [--quick] [--no-results]

One run starts its own redis-server (free port, temp dir), a god and N priest processes
(fsync on, ledgers in a temp dir) and a SEPARATE citizen process that measures paxos-redis;
then N PySyncObj node processes on loopback ports and a separate client process (a
read-only PySyncObj node, which forwards commands to the leader and learns commits).
It prints one table and appends a dated section to benchmarks/RESULTS.md.
Every child runs in its own process group and is killed at the end (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
if str(REPO) not in sys.path:          # the checkout's paxos_redis, whatever the cwd
    sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO),
                                                         os.environ.get("PYTHONPATH")]))


# ----------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime of ``pids`` (and their threads) from /proc/PID/stat, in seconds."""
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])        # utime, stime (fields 14, 15)
    return total / CLK_TCK


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def latency_summary(lat: list[float], elapsed: float) -> dict:
    lat.sort()
    return {"n": len(lat), "seconds": elapsed,
            "p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
            "p999_ms": percentile(lat, 99.9) * 1e3,
            "mean_ms": (sum(lat) / len(lat) * 1e3) if lat else float("nan")}


def redis_calls(r) -> int:
    stats = r.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


# ----------------------------------------------------------------- process group

class Children:
    def __init__(self, logdir: Path) -> None:
        self.logdir, self.procs = logdir, []

    def spawn(self, name: str, argv: list[str], env: dict | None = None,
              cwd: str | None = None) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=env, cwd=cwd, start_new_session=True)
        log.close()
        self.procs.append((name, p))
        return p

    def stop(self, procs=None) -> None:
        chosen = self.procs if procs is None else [(n, p) for n, p in self.procs if p in procs]
        for _, p in chosen:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for _, p in chosen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.05, deadline - time.monotonic()))
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def tail(self, name: str, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            text = (self.logdir / f"{name}.log").read_text(errors="replace").splitlines()
            return "\n".join(text[-lines:])
        return "(no log)"


def run_json(children: Children, name: str, argv: list[str], timeout: float,
             env: dict | None = None) -> dict:
    """Run a measuring child to completion; its last stdout line is JSON."""
    out = children.logdir / f"{name}.out"
    with open(out, "wb") as fh, open(children.logdir / f"{name}.log", "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=err, env=env,
                             start_new_session=True)
        children.procs.append((name, p))
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            children.stop([p])
            raise RuntimeError(f"{name} did not finish in {timeout:.0f}s:\n"
                               f"{children.tail(name)}") from exc
    lines = out.read_text().strip().splitlines()
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed (rc {p.returncode}):\n{children.tail(name)}")
    return json.loads(lines[-1])


# ----------------------------------------------------------------- paxos-redis citizen

def paxos_citizen(a: argparse.Namespace) -> None:
    import redis as redislib

    from paxos_redis import Client
    from paxos_redis.aio import AsyncClient

    payload = b"x" * a.payload
    pids = [int(x) for x in a.pids.split(",")]
    rpid = a.redis_pid
    r = redislib.Redis.from_url(a.redis)
    result: dict = {}

    with Client.from_url(a.redis, parliament=a.parliament) as c:
        deadline = time.monotonic() + 60          # ready: the first petition passes
        while True:
            try:
                c.petition(payload, timeout=10)
                break
            except Exception:                     # noqa: BLE001 - not ready yet
                if time.monotonic() > deadline:
                    raise
        for _ in range(50):                       # warm-up
            c.petition(payload, timeout=10)
        cpu0, rcpu0, calls0 = cpu_seconds(pids), cpu_seconds([rpid]), redis_calls(r)
        time.sleep(1.0)                           # idle baseline: ticks, heartbeats, polls
        result["idle"] = {"priests_cpu_ms_per_s": (cpu_seconds(pids) - cpu0) * 1e3,
                          "redis_cpu_ms_per_s": (cpu_seconds([rpid]) - rcpu0) * 1e3,
                          "redis_cmds_per_s": redis_calls(r) - calls0 - 1}
        lat: list[float] = []
        cpu0, rcpu0, calls0 = cpu_seconds(pids), cpu_seconds([rpid]), redis_calls(r)
        t0 = time.perf_counter()
        end = t0 + a.seconds
        while len(lat) < 10_000_000:
            s = time.perf_counter()
            if s >= end:
                break
            c.petition(payload, timeout=10)
            lat.append(time.perf_counter() - s)
        elapsed = time.perf_counter() - t0
        cpu1, rcpu1, calls1 = cpu_seconds(pids), cpu_seconds([rpid]), redis_calls(r)
        n = len(lat)
        result["seq"] = latency_summary(lat, elapsed)
        result["seq"].update(rate=n / elapsed, cpu_us=(cpu1 - cpu0) / n * 1e6,
                             redis_cpu_us=(rcpu1 - rcpu0) / n * 1e6,
                             redis_cmds=(calls1 - calls0) / n)

    async def saturate() -> dict:
        async with AsyncClient.from_url(a.redis, parliament=a.parliament) as ac:
            await ac.petition_many([payload] * a.window, timeout=30)     # warm-up
            done = 0
            lat: list[float] = []
            end = 0.0

            async def worker() -> None:
                nonlocal done
                while True:
                    s = time.perf_counter()
                    if s >= end:
                        return
                    await ac.petition(payload, timeout=30)
                    lat.append(time.perf_counter() - s)
                    done += 1

            cpu0, rcpu0, calls0 = cpu_seconds(pids), cpu_seconds([rpid]), redis_calls(r)
            t0 = time.perf_counter()
            end = t0 + a.seconds
            await asyncio.gather(*(worker() for _ in range(a.window)))
            elapsed = time.perf_counter() - t0
            cpu1, rcpu1, calls1 = cpu_seconds(pids), cpu_seconds([rpid]), redis_calls(r)
            out = latency_summary(lat, elapsed)
            out.update(rate=done / elapsed, cpu_us=(cpu1 - cpu0) / done * 1e6,
                       redis_cpu_us=(rcpu1 - rcpu0) / done * 1e6,
                       redis_cmds=(calls1 - calls0) / done, window=a.window)
            return out

    result["tput"] = asyncio.run(saturate())
    print(json.dumps(result), flush=True)


def run_paxos(a: argparse.Namespace, children: Children, tmp: Path) -> dict:
    import redis as redislib

    from paxos_redis.keys import Keys
    rdir = tmp / "redis"
    rdir.mkdir()
    port = free_port()
    rs = children.spawn("redis-server", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", str(rdir)])
    url = f"redis://127.0.0.1:{port}/0"
    r = redislib.Redis.from_url(url)
    for _ in range(200):
        with contextlib.suppress(Exception):
            if r.ping():
                break
        time.sleep(0.05)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAXOS_")}
    ledgers = tmp / "ledgers"
    ledgers.mkdir()
    env.update(REDIS_URL=url, PAXOS_PARLIAMENT="bench", PAXOS_LEDGER_DIR=str(ledgers),
               PAXOS_PRIESTS=str(a.priests), PYTHONUNBUFFERED="1")
    cli = [sys.executable, "-m", "paxos_redis.cli"]
    children.spawn("god", [*cli, "god", "--priests", str(a.priests)], env=env, cwd=str(tmp))
    for _ in range(300):
        if r.hget(Keys("bench").config(), "seats") is not None:
            break
        time.sleep(0.05)
    def priest_argv(i: int) -> list[str]:
        if not a.profile_priest:
            return [*cli, "priest"]
        return [sys.executable, __file__, "--role", "priest-profiled",
                "--pids", str(tmp / f"priest-{i}.prof")]
    priests = [children.spawn(f"priest-{i}", priest_argv(i), env=env, cwd=str(tmp))
               for i in range(a.priests)]
    res = run_json(children, "paxos-citizen",
                   [sys.executable, __file__, "--role", "paxos-citizen", "--redis", url,
                    "--parliament", "bench", "--pids", ",".join(str(p.pid) for p in priests),
                    "--redis-pid", str(rs.pid), "--seconds", str(a.seconds),
                    "--payload", str(a.payload), "--window", str(a.window)],
                   timeout=4 * a.seconds + 120, env=env)
    res["redis_version"] = r.info("server")["redis_version"]
    res["fsync_check"] = sorted(p.name for p in ledgers.iterdir())
    r.close()
    if a.profile_priest:
        children.stop(priests)                     # SIGTERM: a clean exit writes the profile
        res["profile"] = busiest_profile(tmp)
    return res


def priest_profiled(out: str) -> None:
    """``paxos-redis priest`` under cProfile with a CPU-time clock (blocking waits cost 0)."""
    import cProfile

    from paxos_redis.cli import main as cli_main
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        cli_main(["priest"])
    finally:
        prof.disable()
        prof.dump_stats(out)


def busiest_profile(tmp: Path) -> str:
    """Top functions (by own time) of the priest that spent the most time (the president)."""
    import io
    import pstats
    best = None
    for f in sorted(tmp.glob("priest-*.prof")):
        st = pstats.Stats(str(f))
        if best is None or st.total_tt > best.total_tt:
            best = st
    if best is None:
        return "(no profile written)"
    out = io.StringIO()
    best.stream = out
    best.sort_stats("tottime").print_stats(25)
    best.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


# ----------------------------------------------------------------- PySyncObj

def pso_conf(batch: bool):
    from pysyncobj import SyncObjConf
    kw = {} if batch else {"appendEntriesUseBatch": False}
    return SyncObjConf(dynamicMembershipChange=False, **kw)


def pso_class():
    from pysyncobj import SyncObj, replicated

    class Counter(SyncObj):
        def __init__(self, self_addr, partners, conf):
            super().__init__(self_addr, partners, conf)
            self.count, self.nbytes = 0, 0

        @replicated
        def append(self, data):
            self.count += 1
            self.nbytes += len(data)
            return self.count

    return Counter


def pso_node(a: argparse.Namespace) -> None:
    addrs = a.addrs.split(",")
    me = addrs[a.index]
    obj = pso_class()(me, [x for x in addrs if x != me], pso_conf(a.batch == "1"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(3600)
    obj.destroy()


def pso_client(a: argparse.Namespace) -> None:
    addrs = a.addrs.split(",")
    pids = [int(x) for x in a.pids.split(",")]
    obj = pso_class()(None, addrs, pso_conf(a.batch == "1"))    # read-only node: forwards
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
    for _ in range(50):
        obj.append(payload, sync=True, timeout=10)
    result: dict = {}
    cpu0 = cpu_seconds(pids)
    time.sleep(1.0)                                # idle baseline
    idle = {"nodes_cpu_ms_per_s": (cpu_seconds(pids) - cpu0) * 1e3}
    cpu0 = cpu_seconds(pids)
    if a.window == 1:
        lat: list[float] = []
        t0 = time.perf_counter()
        end = t0 + a.seconds
        while len(lat) < 10_000_000:
            s = time.perf_counter()
            if s >= end:
                break
            obj.append(payload, sync=True, timeout=10)
            lat.append(time.perf_counter() - s)
        elapsed = time.perf_counter() - t0
        n = len(lat)
        result = latency_summary(lat, elapsed)
    else:
        sem = threading.Semaphore(a.window)
        lat = []
        errors = [0]
        lock = threading.Lock()

        def make_cb(s):
            def cb(res, err):
                with lock:
                    if err == 0 or err is None:
                        lat.append(time.perf_counter() - s)
                    else:
                        errors[0] += 1
                sem.release()
            return cb

        t0 = time.perf_counter()
        end = t0 + a.seconds
        sent = 0
        while sent < 100_000_000:
            s = time.perf_counter()
            if s >= end:
                break
            if not sem.acquire(timeout=max(0.001, end - s)):
                continue
            obj.append(payload, callback=make_cb(time.perf_counter()))
            sent += 1
        with lock:
            n = len(lat)
        elapsed = time.perf_counter() - t0
        for _ in range(a.window):                  # drain (bounded)
            sem.acquire(timeout=max(0.0, 10 - (time.perf_counter() - end)))
        with lock:
            result = latency_summary(list(lat), elapsed)
        result.update(window=a.window, errors=errors[0], sent=sent)
    cpu1 = cpu_seconds(pids)
    result.update(rate=n / elapsed, cpu_us=(cpu1 - cpu0) / max(1, n) * 1e6, idle=idle)
    obj.destroy()
    print(json.dumps(result), flush=True)


def run_pso(a: argparse.Namespace, children: Children, phase: str) -> dict:
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(a.priests)]
    batch = "0" if phase == "seq" else "1"
    nodes = [children.spawn(f"pso-{phase}-node-{i}",
                            [sys.executable, __file__, "--role", "pso-node", "--addrs",
                             ",".join(addrs), "--index", str(i), "--batch", batch])
             for i in range(a.priests)]
    try:
        return run_json(children, f"pso-{phase}-client",
                        [sys.executable, __file__, "--role", "pso-client", "--phase", phase,
                         "--addrs", ",".join(addrs), "--batch", batch,
                         "--pids", ",".join(str(p.pid) for p in nodes),
                         "--seconds", str(a.seconds), "--payload", str(a.payload),
                         "--window", str({"seq": 1, "tput": a.window}.get(phase, a.pso_window))],
                        timeout=2 * a.seconds + 120)
    finally:
        children.stop(nodes)


# ----------------------------------------------------------------- report

def machine() -> dict:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        import pysyncobj
        pso_version = getattr(pysyncobj, "__version__", None) or _dist_version("pysyncobj")
    except ImportError:
        pso_version = "not installed"
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "redis": subprocess.run(["redis-server", "--version"], capture_output=True,
                                    text=True).stdout.strip(),
            "pysyncobj": pso_version, "kernel": platform.release()}


def _dist_version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def fmt(v, digits=2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "nan"
        return f"{v:,.{digits}f}"
    return str(v)


def ratio(x, y) -> str:
    try:
        return f"{x / y:.2f}x"
    except (TypeError, ZeroDivisionError):
        return "-"


def table(px: dict | None, ps: dict | None, a: argparse.Namespace) -> str:
    g = lambda d, *k: (None if d is None else (d.get(k[0], {}) or {}).get(k[1]))   # noqa: E731
    rows = [
        ("sequential p50 (ms)", g(px, "seq", "p50_ms"), g(ps, "seq", "p50_ms")),
        ("sequential p99 (ms)", g(px, "seq", "p99_ms"), g(ps, "seq", "p99_ms")),
        ("sequential p99.9 (ms)", g(px, "seq", "p999_ms"), g(ps, "seq", "p999_ms")),
        ("sequential decrees/s", g(px, "seq", "rate"), g(ps, "seq", "rate")),
        ("sequential replica CPU-us/decree", g(px, "seq", "cpu_us"), g(ps, "seq", "cpu_us")),
        ("throughput decrees/s", g(px, "tput", "rate"), g(ps, "tput", "rate")),
        ("throughput p50 (ms)", g(px, "tput", "p50_ms"), g(ps, "tput", "p50_ms")),
        ("throughput p99 (ms)", g(px, "tput", "p99_ms"), g(ps, "tput", "p99_ms")),
        ("throughput replica CPU-us/decree", g(px, "tput", "cpu_us"), g(ps, "tput", "cpu_us")),
        ("throughput in flight", g(px, "tput", "window"), g(ps, "tput", "window")),
        ("PySyncObj throughput, wide window, decrees/s", None, g(ps, "tput-wide", "rate")),
        ("PySyncObj wide-window p50 (ms)", None, g(ps, "tput-wide", "p50_ms")),
        ("PySyncObj wide-window replica CPU-us/decree", None, g(ps, "tput-wide", "cpu_us")),
        ("PySyncObj wide window in flight", None, g(ps, "tput-wide", "window")),
        ("idle replica CPU (ms per s, all replicas)", g(px, "idle", "priests_cpu_ms_per_s"),
         g(ps, "idle", "nodes_cpu_ms_per_s")),
        ("idle redis-server CPU (ms per s)", g(px, "idle", "redis_cpu_ms_per_s"), None),
        ("idle Redis commands per s", g(px, "idle", "redis_cmds_per_s"), None),
        ("redis-server CPU-us/decree (seq)", g(px, "seq", "redis_cpu_us"), None),
        ("redis-server CPU-us/decree (tput)", g(px, "tput", "redis_cpu_us"), None),
        ("Redis commands/decree (seq)", g(px, "seq", "redis_cmds"), None),
        ("Redis commands/decree (tput)", g(px, "tput", "redis_cmds"), None),
    ]
    out = ["| figure | paxos-redis | PySyncObj | paxos-redis / PySyncObj |",
           "|---|---:|---:|---:|"]
    for name, x, y in rows:
        r = ratio(x, y) if (x is not None and y is not None and "in flight" not in name) else "-"
        out.append(f"| {name} | {fmt(x)} | {fmt(y)} | {r} |")
    return "\n".join(out)


def main_run(a: argparse.Namespace) -> int:
    if a.quick:
        a.seconds = min(a.seconds, 3.0)
    tmp = Path(tempfile.mkdtemp(prefix="paxos-bench-"))
    logdir = tmp / "logs"
    logdir.mkdir()
    children = Children(logdir)
    px = ps = None
    problems: list[str] = []
    started = dt.datetime.now(dt.timezone.utc)
    try:
        try:
            print(f"paxos-redis: {a.priests} priests, {a.seconds:g}s per phase ...", flush=True)
            px = run_paxos(a, children, tmp)
        except Exception as exc:                   # noqa: BLE001 - reported
            problems.append(f"paxos-redis: {exc}")
        finally:
            children.stop()
        try:
            import pysyncobj  # noqa: F401
            ps = {}
            for phase in ("seq", "tput", "tput-wide"):
                print(f"PySyncObj {phase}: {a.priests} nodes ...", flush=True)
                try:
                    ps[phase] = run_pso(a, children, phase)
                except Exception as exc:           # noqa: BLE001 - reported
                    problems.append(f"PySyncObj {phase}: {exc}")
        except ImportError:
            problems.append("PySyncObj not installed: pip install -e '.[bench]'")
    finally:
        children.stop()
    if px is not None and px.get("profile"):
        print(px.pop("profile"))
        print("(profiled run: figures are distorted by cProfile; not written to RESULTS.md)")
        a.no_results = True
    px_view = None if px is None else {"seq": px.get("seq"), "tput": px.get("tput"),
                                       "idle": px.get("idle")}
    if ps is not None and "seq" in ps:
        ps["idle"] = ps["seq"].get("idle")
    text = table(px_view, ps, a)
    print()
    print(text)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    if not a.no_results:
        write_results(a, started, text, px, ps, problems)
    if not problems:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {logdir}", file=sys.stderr)
    return 1 if problems else 0


def write_results(a, started, text, px, ps, problems) -> None:
    m = machine()
    cmd = "python benchmarks/bench.py " + " ".join(sys.argv[1:])
    lines = [f"\n## {started:%Y-%m-%d %H:%M} UTC{' (quick run)' if a.quick else ''}\n",
             f"Command: `{cmd.strip()}` (effective: {a.seconds:g} s per phase, {a.priests} "
             f"replicas, {a.payload}-byte decrees, paxos-redis window {a.window}, "
             f"PySyncObj window {a.pso_window})\n",
             f"Machine: nproc={m['nproc']}, CPU: {m['cpu']}, Python {m['python']}, "
             f"{m['redis']}, PySyncObj {m['pysyncobj']}, Linux {m['kernel']}\n",
             "Durability: paxos-redis fsyncs every priest's ledger before it answers (each "
             "batch, one fsync); PySyncObj ran with its default in-memory journal (no "
             "journal file): it never fsyncs.\n",
             "Replica CPU = utime+stime of the priest (resp. node) processes over the phase, "
             "divided by decrees passed; the god and redis-server are not in it "
             "(redis-server shown separately).\n"]
    if a.quick:
        lines.append("Note: a quick run (few seconds per phase) on a shared 2-core machine "
                     "where every process (replicas, Redis, client) competes for the same "
                     "cores: indicative only.\n")
    lines += ["", text, "", "Raw figures:", "", "```",
              json.dumps({"paxos_redis": px, "pysyncobj": ps}, indent=1, default=str), "```"]
    if problems:
        lines += ["", "Problems:", ""] + [f"- {p.splitlines()[0]}" for p in problems]
    with open(HERE / "RESULTS.md", "a") as fh:
        if fh.tell() == 0:
            fh.write("# Benchmark results\n\nAppended by `benchmarks/bench.py`; newest last.\n")
        fh.write("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--priests", type=int, default=5)
    ap.add_argument("--payload", type=int, default=100)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--pso-window", type=int, default=1000,
                    help="PySyncObj commands in flight in the throughput phase")
    ap.add_argument("--quick", action="store_true", help="at most 3 s per phase")
    ap.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--profile-priest", action="store_true", help=argparse.SUPPRESS)
    # internal roles
    ap.add_argument("--role", default="main",
                    choices=["main", "paxos-citizen", "pso-node", "pso-client",
                             "priest-profiled"])
    ap.add_argument("--redis")
    ap.add_argument("--redis-pid", type=int)
    ap.add_argument("--parliament", default="bench")
    ap.add_argument("--pids")
    ap.add_argument("--addrs")
    ap.add_argument("--index", type=int)
    ap.add_argument("--batch", default="1")
    ap.add_argument("--phase", default="seq")
    a = ap.parse_args()
    if a.role == "paxos-citizen":
        paxos_citizen(a)
        return 0
    if a.role == "priest-profiled":
        priest_profiled(a.pids)
        return 0
    if a.role == "pso-node":
        pso_node(a)
        return 0
    if a.role == "pso-client":
        pso_client(a)
        return 0
    return main_run(a)


if __name__ == "__main__":
    sys.exit(main())
