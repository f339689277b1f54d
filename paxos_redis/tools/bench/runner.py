"""One benchmark run: start the parliament, measure idle, then each phase, then the end state.

A phase is one mode (``seq`` or ``saturated``) at one window: its citizens start,
petition through the warm-up, and the figures cover exactly the ``seconds`` after it
(petitions that finished in that interval; CPU and Redis commands between two
snapshots taken at its ends).  :func:`run` returns the whole report as a JSON-able dict.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paxos_redis.errors import BenchError
from paxos_redis.messengers.connection import redact
from paxos_redis.tools.bench.cluster import Cluster
from paxos_redis.tools.bench.load import CitizenLoad
from paxos_redis.tools.bench.measure import Snapshot, cost, idle, latency_ms, snapshot
from paxos_redis.tools.bench.procfs import machine, peak_rss_kib
from paxos_redis.tools.bench.progress import Progress

MODES = ("seq", "saturated")
TICK_S = 0.1


@dataclass(frozen=True)
class BenchOptions:
    """What to run.  ``windows``: petitions in flight for each saturated phase."""

    priests: int = 5
    payload: int = 100
    modes: tuple[str, ...] = MODES
    windows: tuple[int, ...] = (64,)
    citizens: int = 1
    seconds: float = 10.0
    warmup: float = 2.0
    idle: float = 1.0
    timeout: float = 30.0
    redis_url: str | None = None
    ledger_dir: Path | None = None
    keep: bool = False
    #: PAXOS_RULES for the priests (None: their defaults)
    rules: str | None = None
    priest_argv: Callable[[int], list[str]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"modes must be among {MODES}, got {self.modes!r}")
        checks = {"priests": self.priests >= 1, "payload": self.payload >= 0,
                  "citizens": self.citizens >= 1, "seconds": self.seconds > 0,
                  "warmup": self.warmup >= 0, "idle": self.idle >= 0, "timeout": self.timeout > 0,
                  "windows": bool(self.windows) and all(w >= 1 for w in self.windows)}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"--{name} out of range: {getattr(self, name)!r}")

    def config(self) -> dict[str, Any]:
        return {"priests": self.priests, "payload_bytes": self.payload, "modes": list(self.modes),
                "windows": list(self.windows), "citizens": self.citizens,
                "seconds": self.seconds, "warmup_seconds": self.warmup,
                "idle_seconds": self.idle, "petition_timeout_seconds": self.timeout,
                "rules": self.rules,
                "redis": "own redis-server" if self.redis_url is None else redact(self.redis_url)}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("paxos-redis")
    except PackageNotFoundError:
        return "unknown"


class Bench:
    """A parliament and the phases run against it (see :func:`run`)."""

    def __init__(self, options: BenchOptions, progress: Progress, workdir: Path) -> None:
        self.options, self.progress = options, progress
        self.cluster = Cluster(priests=options.priests, workdir=workdir,
                               redis_url=options.redis_url, ledger_dir=options.ledger_dir,
                               priest_argv=options.priest_argv, rules=options.rules)
        self.priest_pids: list[int] = []
        self.identities_at_start: dict[int, str] = {}

    def start(self) -> None:
        self.progress.note(f"bench: starting {self.options.priests} priests and a god"
                           + (" and redis-server" if self.cluster.own_redis else ""))
        self.cluster.start()
        names = self.identities_at_start = self.cluster.identity_of()
        self.priest_pids = sorted((p.pid for p in self.cluster.priests),
                                  key=lambda pid: (names.get(pid, "~"), pid))
        if self.cluster.on_memory_fs:
            self.progress.note(f"bench: WARNING: ledgers in {self.cluster.ledger_dir} are on "
                               f"{self.cluster.ledger_fs}, where fsync is free; give "
                               "--ledger-dir on a real disk")

    def snap(self, citizens: list[int]) -> Snapshot:
        god = [] if self.cluster.god is None else [self.cluster.god.pid]
        return snapshot(self.cluster.redis, priests=self.priest_pids, god=god, citizens=citizens)

    def wait_until(self, moment: float, phase: str, load: CitizenLoad | None = None) -> None:
        while (now := time.monotonic()) < moment:
            self.cluster.check_alive()
            if load is not None:
                load.check()
                self.progress.update(phase, load.done())
            time.sleep(min(TICK_S, moment - now))

    def idle(self) -> dict[str, Any]:
        self.progress.note(f"bench: idle baseline, {self.options.idle:g} s")
        before = self.snap([])
        self.wait_until(before.at + self.options.idle, "idle")
        return idle(before, self.snap([]))

    def phase(self, mode: str, window: int) -> dict[str, Any]:
        o = self.options
        label = "seq" if mode == "seq" else f"saturated-w{window}"
        self.progress.note(f"bench: {label}: {o.warmup:g} s warm-up, {o.seconds:g} s measured")
        self.progress.reset()
        load = CitizenLoad(self.cluster, mode=mode, window=window, citizens=o.citizens,
                           payload=o.payload, timeout=o.timeout, label=label)
        try:
            deadline = time.monotonic() + 60.0
            while not load.ready():
                self.wait_until(time.monotonic() + TICK_S, f"{label} starting", load)
                if time.monotonic() > deadline:
                    raise BenchError(f"{label}: citizens not ready after 60 s")
            start = time.monotonic() + o.warmup
            until = start + o.seconds
            load.schedule(start, until)
            self.wait_until(start, f"{label} warm-up", load)
            before = self.snap(load.pids)
            self.wait_until(until, f"{label} measuring", load)
            after = self.snap(load.pids)
            deadline = until + o.timeout + 10.0
            while not load.finished():
                self.wait_until(time.monotonic() + TICK_S, f"{label} draining", load)
                if time.monotonic() > deadline:
                    raise BenchError(f"{label}: citizens gave no result {o.timeout + 10:g} s "
                                     "after the phase ended")
        finally:
            load.close()
        self.progress.done()
        results = load.results()
        latencies = [v for r in results for v in r["latencies_us"]]
        decrees, errors = len(latencies), sum(int(r["errors"]) for r in results)
        return {"mode": mode, "label": label, "window": 1 if mode == "seq" else window,
                "citizens": len(load.citizens), "payload_bytes": o.payload,
                "seconds": o.seconds, "snapshot_seconds": after.at - before.at,
                "decrees": decrees, "errors": errors,
                "decrees_per_s": decrees / o.seconds, "latency_ms": latency_ms(latencies),
                **cost(before, after, decrees)}

    def end_state(self) -> dict[str, Any]:
        # a priest busy at the end may have let its heartbeat lapse: its identity at the start
        names = {**self.identities_at_start, **self.cluster.identity_of()}
        priests = [{"priest": names.get(pid), "pid": pid, "peak_rss_kib": peak_rss_kib(pid)}
                   for pid in self.priest_pids]
        god = None if self.cluster.god is None else peak_rss_kib(self.cluster.god.pid)
        info = self.cluster.redis.info()
        return {"priests": priests, "god_peak_rss_kib": god,
                "streams": self.cluster.stream_lengths(),
                "redis_info": {"version": info.get("redis_version"),
                               "peak_memory_bytes": info.get("used_memory_peak")}}


def run(options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Run the benchmark; the report (see the README for its fields).  Raises BenchError."""
    progress = progress or Progress(quiet=True)
    workdir = Path(tempfile.mkdtemp(prefix="paxos-bench-"))
    try:
        bench = Bench(options, progress, workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    report: dict[str, Any] = {
        "tool": "paxos-redis bench", "version": _version(),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": options.config(), "machine": machine()}
    failed = True
    try:
        bench.start()
        report["durability"] = {"fsync": True, "ledger_dir": str(bench.cluster.ledger_dir),
                                "ledger_filesystem": bench.cluster.ledger_fs}
        report["parliament"] = bench.cluster.parliament
        report["idle"] = bench.idle() if options.idle > 0 else None
        report["phases"] = [bench.phase(mode, w) for mode in options.modes
                            for w in (options.windows if mode == "saturated" else (1,))]
        report.update(bench.end_state())
        if options.keep:
            report["kept"] = {"logs": str(workdir / "logs"), "ledgers": str(bench.cluster.ledger_dir)}
        failed = False
    except BenchError as exc:
        raise BenchError(f"{exc}\n(logs kept in {workdir / 'logs'})") from None
    finally:
        progress.done()
        bench.cluster.close(keep=options.keep)
        if not failed and not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report
