"""The parliament under test: its own ``redis-server`` (or ``--redis URL``), a god, N priests.

The god founds the parliament with the N priests (each a new priest: a new ledger, a
new identity); :meth:`Cluster.start` returns once it has, a president acts, and a
decree passes, so that nothing measured is the founding.

Every child runs in its own session (process group) with its output in a log file;
:meth:`Children.stop` ends each group with SIGTERM, then SIGKILL, so a failed or
interrupted benchmark leaves nothing running.  Ledgers live in a fresh directory on a
real disk (``/var/tmp`` by default, not ``/tmp``, which is often ``tmpfs``) and the
priests fsync every batch, as they always do.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paxos_redis.citizen.client import Client
from paxos_redis.errors import BenchError, PaxosError
from paxos_redis.messengers.connection import connect, redact
from paxos_redis.messengers.heartbeat import president_of, read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.tools.bench.procfs import MEMORY_FILESYSTEMS, filesystem

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_argv() -> list[str]:
    """``paxos-redis`` as this interpreter runs it (works from an installed package)."""
    return [sys.executable, "-m", "paxos_redis.tools.cli"]


class Children:
    """Child processes, each in its own process group, each with a log file in ``logdir``."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
              cwd: Path | None = None, pipes: bool = False) -> subprocess.Popen[bytes]:
        """Start ``argv``; stderr (and stdout unless ``pipes``) go to ``logdir/name.log``."""
        with open(self.logdir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else log, stderr=log, env=env,
                cwd=None if cwd is None else str(cwd), start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def name_of(self, proc: subprocess.Popen[bytes]) -> str:
        return next((n for n, p in self.procs if p is proc), "?")

    def stop(self, procs: list[subprocess.Popen[bytes]] | None = None, grace: float = 5.0) -> None:
        """SIGTERM each process group, wait up to ``grace`` seconds, then SIGKILL."""
        chosen = [p for _, p in self.procs if procs is None or p in procs]
        for proc in chosen:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in chosen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.05, deadline - time.monotonic()))
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            text = (self.logdir / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:]) or "(empty log)"


def _ledger_dir(wanted: Path | None) -> tuple[Path, bool]:
    """The ledgers' directory and whether we made it (then it is removed at the end).

    A given directory must be new or empty: priests would otherwise recover old ledgers
    (and the first phase would measure their catching up)."""
    if wanted is None:
        base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
        return Path(tempfile.mkdtemp(prefix="paxos-bench-ledgers-", dir=base)), True
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        crowded = any(wanted.iterdir())
    except OSError as exc:
        raise BenchError(f"--ledger-dir {wanted}: {exc.strerror}; give a directory you can "
                         "write") from None
    if crowded:
        raise BenchError(f"--ledger-dir {wanted} is not empty: give a new or empty directory "
                         "(priests would recover the ledgers already there)")
    return wanted, False


class Cluster:
    """One parliament: Redis (own or given), a god and ``priests`` priest processes.

    ``priest_argv(i)``, if given, replaces ``paxos-redis priest`` for priest ``i`` (the
    benchmarks use it to run priests under cProfile); ``rules`` is their PAXOS_RULES
    (nothing else of the caller's PAXOS_* environment reaches them).
    """

    def __init__(self, *, priests: int, workdir: Path, redis_url: str | None = None,
                 ledger_dir: Path | None = None,
                 priest_argv: Callable[[int], list[str]] | None = None,
                 rules: str | None = None) -> None:
        self.target, self.workdir = priests, workdir
        self.children = Children(workdir / "logs")
        self.children.logdir.mkdir(parents=True, exist_ok=True)
        self.own_redis = redis_url is None
        self.url = redis_url or ""
        self.parliament = "bench" if self.own_redis else f"bench-{secrets.token_hex(4)}"
        self.keys = Keys(self.parliament)
        self.ledgers, self._own_ledgers = _ledger_dir(ledger_dir)
        self.ledger_fs = filesystem(self.ledgers)
        self.priest_argv, self.rules = priest_argv, rules
        self.redis_proc: subprocess.Popen[bytes] | None = None
        self.god: subprocess.Popen[bytes] | None = None
        self.priests: list[subprocess.Popen[bytes]] = []
        self.redis: Any = None

    @property
    def on_memory_fs(self) -> bool:
        return self.ledger_fs in MEMORY_FILESYSTEMS

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAXOS_")}
        env.update(REDIS_URL=self.url, PAXOS_PARLIAMENT=self.parliament,
                   PAXOS_LEDGER_DIR=str(self.ledgers), PAXOS_PRIESTS=str(self.target),
                   PYTHONUNBUFFERED="1")
        if self.rules is not None:
            env["PAXOS_RULES"] = self.rules
        return env

    # ------------------------------------------------------------- start

    def start(self) -> None:
        if self.own_redis:
            self._start_redis()
        self.redis = connect(self.url, client_name="paxos-bench")
        try:
            self.redis.ping()
        except Exception as exc:
            raise BenchError(f"Redis at {redact(self.url)} is unreachable: {exc}") from None
        self.god = self.children.spawn("god", [*cli_argv(), "god", "--priests", str(self.target)],
                                       env=self.env(), cwd=self.workdir)
        for i in range(self.target):
            argv = self.priest_argv(i) if self.priest_argv else [*cli_argv(), "priest"]
            self.priests.append(self.children.spawn(f"priest-{i}", argv, env=self.env(),
                                                    cwd=self.workdir))
        self._wait(self.founded, f"the god to found the parliament with {self.target} priests "
                   "and a president to act", "god")
        self._wait_passes()

    def founded(self) -> bool:
        """Every priest of ours votes, in one founding that names them all, and one presides."""
        pids = {p.pid for p in self.priests}
        beats = {b.priest: b for b in read_roster(self.redis, self.keys).values()
                 if b.pid in pids}
        president = president_of(beats)
        return (len(beats) == self.target and all(b.role == "voter" for b in beats.values())
                and president is not None and set(president.members) == set(beats))

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BenchError("redis-server is not on PATH: install Redis 7, or give a running "
                             "one with --redis URL")
        data = self.workdir / "redis"
        data.mkdir(exist_ok=True)
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.redis_proc = self.children.spawn(
            "redis-server", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--daemonize", "no", "--dir", str(data)])
        probe = connect(self.url, socket_timeout=0.5, socket_connect_timeout=0.5, retries=0)
        try:
            self._wait(lambda: _pings(probe), "redis-server to answer PING", "redis-server",
                       timeout=10.0)
        finally:
            probe.close()

    def _wait_passes(self) -> None:
        """Until a barrier passes: a president is elected and a majority answers."""
        with Client(self.redis, self.parliament) as citizen:
            def passes() -> bool:
                try:
                    citizen.sync(timeout=2.0)
                except PaxosError:
                    return False
                return True
            self._wait(passes, "the first decree to pass", "priest-0")

    def _wait(self, ready: Callable[[], bool], what: str, log: str,
              timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {timeout:g} s waiting for {what}; "
                                 f"{log}.log ends:\n{self.children.tail(log)}")
            time.sleep(0.05)

    # ------------------------------------------------------------- while running

    def check_alive(self) -> None:
        """Raise :class:`BenchError` (with its log tail) if Redis, the god or a priest exited."""
        for proc in [self.redis_proc, self.god, *self.priests]:
            if proc is not None and proc.poll() is not None:
                name = self.children.name_of(proc)
                raise BenchError(f"{name} exited with status {proc.returncode} during the "
                                 f"benchmark; {name}.log ends:\n{self.children.tail(name)}")

    def identity_of(self) -> dict[int, str]:
        """pid -> the priest's identity (12 hex digits), from the priests' heartbeats."""
        return {b.pid: b.name for b in read_roster(self.redis, self.keys).values()}

    def stream_lengths(self) -> dict[str, int]:
        """XLEN of every key of this parliament that is a stream."""
        found = {(k.decode() if isinstance(k, bytes) else str(k))
                 for k in self.redis.scan_iter(match=self.keys.pattern(), count=1000,
                                               _type="stream")}
        return {key: int(self.redis.xlen(key)) for key in sorted(found)}

    # ------------------------------------------------------------- the end

    def close(self, keep: bool = False) -> None:
        """Stop every child; forget our keys in a given Redis; remove the ledgers (unless
        ``keep``: a directory we made goes whole, a given one is emptied)."""
        self.children.stop()
        if self.redis is not None:
            if not self.own_redis:
                with contextlib.suppress(Exception):
                    for key in list(self.redis.scan_iter(match=self.keys.pattern(), count=1000)):
                        self.redis.unlink(key)
            with contextlib.suppress(Exception):
                self.redis.close()
        if keep:
            return
        if self._own_ledgers:
            shutil.rmtree(self.ledgers, ignore_errors=True)
            return
        for entry in self.ledgers.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:                    # noqa: BLE001 - not listening yet
        return False
