"""The parliament under test: its own ``redis-server`` (or ``--redis URL``), a god, N priests.

The god founds the parliament with the N priests (each a new priest: a new ledger, a
new identity); :meth:`Cluster.start` returns once it has, a president acts, and a
decree passes, so that nothing measured is the founding.

Every child runs in its own session (process group) with its output in a log file
(:mod:`paxos_redis.tools.local_parliament`); :meth:`Cluster.close` ends each group with
SIGTERM, then SIGKILL, so a failed or interrupted benchmark leaves nothing running.
Ledgers live in a fresh directory on a real disk (``/var/tmp`` by default, not ``/tmp``,
which is often ``tmpfs``) and the priests fsync every batch, as they always do.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paxos_redis.citizen.client import Client
from paxos_redis.errors import BenchError, PaxosError
from paxos_redis.messengers.connection import connect, redact
from paxos_redis.tools.bench.procfs import MEMORY_FILESYSTEMS, filesystem
from paxos_redis.tools.local_parliament import Child, Children, LocalParliament, poll

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


class Cluster(LocalParliament):
    """One parliament: Redis (own or given), a god and ``priests`` priest processes.

    ``priest_argv(i)``, if given, replaces ``paxos-redis priest`` for priest ``i`` (the
    benchmarks use it to run priests under cProfile); ``rules`` is their PAXOS_RULES
    (nothing else of the caller's PAXOS_* environment reaches them).
    """

    def __init__(self, *, priests: int, workdir: Path, redis_url: str | None = None,
                 ledger_dir: Path | None = None,
                 priest_argv: Callable[[int], list[str]] | None = None,
                 rules: str | None = None) -> None:
        self.own_redis = redis_url is None
        parliament = "bench" if self.own_redis else f"bench-{secrets.token_hex(4)}"
        ledgers, self._own_ledgers = _ledger_dir(ledger_dir)
        env = {"PAXOS_PRIESTS": str(priests)}
        if rules is not None:
            env["PAXOS_RULES"] = rules
        super().__init__(Children(workdir / "logs"), parliament, redis_url or "", ledgers,
                         priests=priests, cwd=workdir, env=env)
        self.children.logdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.ledger_fs = filesystem(self.ledger_dir)
        self.custom_priest_argv = priest_argv
        self.redis_proc: Child | None = None
        self.priests: list[Child] = []

    @property
    def on_memory_fs(self) -> bool:
        return self.ledger_fs in MEMORY_FILESYSTEMS

    # ------------------------------------------------------------- start

    def start(self) -> None:
        if self.own_redis:
            self._start_redis()
        self.redis = connect(self.url, client_name="paxos-bench")
        try:
            self.redis.ping()
        except Exception as exc:
            raise BenchError(f"Redis at {redact(self.url)} is unreachable: {exc}") from None
        god = self.spawn_god()
        for i in range(self.target):
            argv = self.custom_priest_argv(i) if self.custom_priest_argv else self.priest_argv()
            self.priests.append(self.spawn(f"priest-{i}", argv))
        self._wait(lambda: self.founded() is not None, f"the god to found the parliament with "
                   f"{self.target} priests and a president to act", god)
        self._wait_passes()

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
            self._wait(lambda: _pings(probe), "redis-server to answer PING", self.redis_proc,
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
            self._wait(passes, "the first decree to pass", self.priests[0])

    def _wait(self, ready: Callable[[], bool], what: str, child: Child,
              timeout: float = READY_TIMEOUT_S) -> None:
        """Until ``ready()``; else a :class:`BenchError` with the end of ``child``'s log."""
        def ready_or_dead() -> bool:
            self.check_alive()
            return ready()
        if poll(ready_or_dead, timeout) is None:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}; "
                             f"{child.name}.log ends:\n{child.tail()}")

    # ------------------------------------------------------------- while running

    def check_alive(self) -> None:
        """Raise :class:`BenchError` (with its log tail) if Redis, the god or a priest exited."""
        child = self.children.exited([*self.gods, *self.priests]
                                     + ([] if self.redis_proc is None else [self.redis_proc]))
        if child is not None:
            raise BenchError(f"{child.name} exited with status {child.returncode} during the "
                             f"benchmark; {child.name}.log ends:\n{child.tail()}")

    def identity_of(self) -> dict[int, str]:
        """pid -> the priest's identity (12 hex digits), from the priests' heartbeats."""
        return {b.pid: b.name for b in self.beats().values()}

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
            shutil.rmtree(self.ledger_dir, ignore_errors=True)
            return
        for entry in self.ledger_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:                    # noqa: BLE001 - not listening yet
        return False
