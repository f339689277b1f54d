"""A throwaway ``redis-server`` for tests: its own free port, directory and log, no persistence.

Tests never touch a Redis they did not start.  ``kill()`` is kill -9, ``restart()``
comes back on the SAME port with an empty dataset (``--save "" --appendonly no``),
which is exactly "Redis restarted and lost every stream".

``RedisServer(tls=True)`` serves TLS only (``--port 0 --tls-port PORT``) with a throwaway
CA and server certificate made by the ``openssl`` CLI (:func:`make_tls`); its
:attr:`~RedisServer.url` is ``rediss://...?ssl_ca_certs=...``.  A ``redis-server`` built
without TLS, or no ``openssl``, raises :class:`TlsUnsupported` (tests skip on it).
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
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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


#: What a redis-server without TLS says when given ``--tls-port`` (7.0: the tls-* options do
#: not exist; 7.2+: no "tls" connection type, e.g. TLS built as a module not loaded).
_NO_TLS = ("bad directive", "connection type", "not compiled", "not supported", "unsupported")


class TlsUnsupported(RuntimeError):
    """This ``redis-server`` (or this machine) cannot serve TLS; the message says why."""


@dataclass(frozen=True)
class Tls:
    """A throwaway CA, a server certificate it signed (for 127.0.0.1 and localhost), and a
    client certificate it signed (for ``tls_auth_clients="yes"``)."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise TlsUnsupported("the openssl CLI is not on PATH: it makes the tests' certificates")
    done = subprocess.run([binary, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed: {done.stderr.strip()}")


def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA (``name.crt``, ``name.key``) valid for a day."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", "1", "-subj", f"/CN=paxos-redis test {name}", cwd=directory)
    return directory / f"{name}.crt", directory / f"{name}.key"


def _signed(directory: Path, ca: tuple[Path, Path], name: str, extensions: str) -> Path:
    """``name.crt`` (key ``name.key``) signed by ``ca`` with the given v3 ``extensions``."""
    _openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
             cwd=directory)
    (directory / f"{name}.ext").write_text(extensions + "\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca[0], "-CAkey", ca[1],
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext",
             cwd=directory)
    return directory / f"{name}.crt"


def make_tls(directory: Path) -> Tls:
    """CA, server and client certificates under ``directory`` (about 50 ms of openssl)."""
    ca = make_ca(directory)
    server = _signed(directory, ca, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                     "extendedKeyUsage=serverAuth")
    client = _signed(directory, ca, "client", "extendedKeyUsage=clientAuth")
    return Tls(ca[0], server, server.with_suffix(".key"), client, client.with_suffix(".key"))


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1 (TLS only, with ``tls=True``)."""

    host = "127.0.0.1"

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        port: int | None = None,
        password: str | None = None,
        args: tuple[str, ...] = (),
        ready_timeout: float = 10.0,
        tls: bool = False,
        tls_auth_clients: str = "no",
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
        if tls_auth_clients not in ("no", "optional", "yes"):
            raise ValueError(f"tls_auth_clients is no, optional or yes, got {tls_auth_clients!r}")
        self.tls_auth_clients = tls_auth_clients
        self.tls: Tls | None = make_tls(self.directory / "tls") if tls else None

    # ------------------------------------------------------------- addresses

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls is None:
            return f"redis://{auth}{self.host}:{self.port}/0"
        query = f"ssl_ca_certs={quote(str(self.tls.ca))}"
        if self.tls_auth_clients != "no":
            query += (f"&ssl_certfile={quote(str(self.tls.client_cert))}"
                      f"&ssl_keyfile={quote(str(self.tls.client_key))}")
        return f"rediss://{auth}{self.host}:{self.port}/0?{query}"

    def _tls_options(self) -> dict[str, Any]:
        """redis-py keyword arguments that trust our CA (and present our client certificate)."""
        if self.tls is None:
            return {}
        options: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.tls.ca)}
        if self.tls_auth_clients != "no":
            options.update(ssl_certfile=str(self.tls.client_cert),
                           ssl_keyfile=str(self.tls.client_key))
        return options

    @property
    def logfile(self) -> Path:
        return self.directory / "redis.log"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A plain client (bytes replies, short timeouts); closed by :meth:`stop`."""
        options: dict[str, Any] = {
            "host": self.host, "port": self.port, "password": self.password,
            "decode_responses": False, "socket_timeout": 5.0, "socket_connect_timeout": 1.0,
            **self._tls_options(),
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
        if self.tls is not None:
            command[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            command += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key),
                        "--tls-ca-cert-file", str(self.tls.ca),
                        "--tls-auth-clients", self.tls_auth_clients]
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
                            socket_timeout=0.5, socket_connect_timeout=0.5, **self._tls_options())
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    stderr = self.process.stderr.read().decode(errors="replace") if \
                        self.process.stderr else ""
                    said = f"{stderr} {self._log_tail()}".lower()
                    if self.tls is not None and "tls" in said and any(m in said for m in _NO_TLS):
                        raise TlsUnsupported(f"{self.binary} cannot serve TLS (built without it?): "
                                             f"{stderr.strip()} {self._log_tail()}")
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
