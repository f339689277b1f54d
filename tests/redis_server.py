"""A throwaway ``redis-server`` for tests: its own free port, directory and log, no persistence.

Tests never touch a Redis they did not start.  ``kill()`` is kill -9, ``restart()``
comes back on the SAME port with an empty dataset (``--save "" --appendonly no``),
which is exactly "Redis restarted and lost every stream".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from typing_extensions import Self

BINARY = "redis-server"


def redis_server_binary() -> str | None:
    """Path of ``redis-server`` on PATH, or None."""
    return shutil.which(BINARY)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1."""

    host = "127.0.0.1"

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        port: int | None = None,
        password: str | None = None,
        args: tuple[str, ...] = (),
        ready_timeout: float = 10.0,
    ) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError(f"{BINARY} is not on PATH; install Redis 7 to run these tests")
        self.binary = binary
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="paxos-redis-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password = password
        self.args = args
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._clients: list[redis.Redis] = []

    # ------------------------------------------------------------- addresses

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def logfile(self) -> Path:
        return self.directory / "redis.log"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A plain client (bytes replies, short timeouts); closed by :meth:`stop`."""
        options: dict[str, Any] = {
            "host": self.host, "port": self.port, "password": self.password,
            "decode_responses": False, "socket_timeout": 5.0, "socket_connect_timeout": 1.0,
        }
        options.update(kwargs)
        client = redis.Redis(**options)
        self._clients.append(client)
        return client

    # ------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        if self.running:
            raise RuntimeError(f"redis-server already running on port {self.port}")
        command = [
            self.binary, "--port", str(self.port), "--bind", self.host,
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", str(self.directory), "--logfile", str(self.logfile),
        ]
        if self.password:
            command += ["--requirepass", self.password]
        command += list(self.args)
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        probe = redis.Redis(host=self.host, port=self.port, password=self.password,
                            socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    stderr = self.process.stderr.read().decode(errors="replace") if \
                        self.process.stderr else ""
                    raise RuntimeError(
                        f"redis-server exited with {self.process.returncode} on port "
                        f"{self.port}: {stderr.strip()} {self._log_tail()}"
                    )
                try:
                    if probe.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"redis-server on port {self.port} did not answer PING within "
                        f"{self.ready_timeout} s; {self._log_tail()}"
                    )
                time.sleep(0.02)
        finally:
            probe.close()

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()[-10:]
        except OSError:
            return "(no log)"
        return "log tail:\n" + "\n".join(lines)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, losing everything (no persistence)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> Self:
        """Start again on the same port, empty (kills the running one first)."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Close our clients, terminate the server (SIGKILL if it lingers), tidy up."""
        for client in self._clients:
            with contextlib.suppress(Exception):  # best effort on teardown
                client.close()
        self._clients.clear()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.stop()
