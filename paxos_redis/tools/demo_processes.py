"""The processes and threads of ``paxos-redis demo``: the messengers (embedded fakeredis or
a given Redis), the god and priest processes, and the citizen threads.

Nothing here decides whether the demo went well: :mod:`paxos_redis.tools.demo` drives these,
and :mod:`paxos_redis.tools.demo_report` judges what they did.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import AuthenticationError, RedisError

from paxos_redis.citizen.client import Client
from paxos_redis.errors import CliError, PaxosError
from paxos_redis.messengers.connection import check, connect, redact
from paxos_redis.messengers.heartbeat import Beat
from paxos_redis.runtime.settings import Settings
from paxos_redis.tools.demo_report import Tally
from paxos_redis.tools.local_parliament import POLL_S, Child, Children, LocalParliament, poll

CATCH_UP_TIMEOUT_S = 20.0
STOP_GRACE_S = 10.0


# ---------------------------------------------------------------- the messengers

def _embedded_server() -> Any:
    """fakeredis's own TCP server, with Nagle off (else each pipelined reply waits ~40 ms
    for a delayed ACK)."""
    try:
        from fakeredis import TcpFakeServer
    except ImportError:
        raise CliError("the embedded messengers need fakeredis>=2.41 (pip install "
                       "'fakeredis>=2.41'), or give a real Redis: --redis URL") from None

    class NoDelayServer(TcpFakeServer):
        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = super().get_request()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address

    return NoDelayServer(("127.0.0.1", 0))


class Messengers:
    """The Redis the demo runs on: embedded fakeredis, or the ``--redis`` URL (checked)."""

    def __init__(self, url: str | None) -> None:
        self.server: Any = None
        self.redis: Any = None
        self.pattern: str | None = None      # the keys to delete from a real Redis at the end
        if url is None:
            self.server = _embedded_server()
            threading.Thread(target=self.server.serve_forever, name="fakeredis",
                             daemon=True).start()
            url = f"redis://127.0.0.1:{self.server.server_address[1]}/0"
        self.url = url
        self.label = "fakeredis (embedded)" if self.server else f"Redis at {redact(url)}"
        try:
            self.redis = connect(url, client_name="paxos-demo")
        except ValueError as exc:
            self.close()
            raise CliError(f"--redis: {exc}") from None
        try:
            check(self.redis, url)
        except AuthenticationError:
            self.close()
            raise                                   # says which URL and what to fix
        except RedisError as exc:
            self.close()
            raise CliError(f"Redis at {redact(url)} is unreachable: {exc}") from None

    def close(self) -> None:
        """Forget the demo parliament's keys on a real Redis; stop the embedded one."""
        if self.redis is not None and self.server is None and self.pattern is not None:
            try:
                keys = list(self.redis.scan_iter(match=self.pattern, count=1000))
                if keys:
                    self.redis.delete(*keys)
            except RedisError:
                pass
        if self.redis is not None:
            self.redis.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


# ---------------------------------------------------------------- the processes

class Cluster(LocalParliament):
    """The god and the priests, each its own ``python -m paxos_redis.tools.cli`` process,
    with the caller's PAXOS_* settings (but those that make one priest who it is)."""

    def __init__(self, settings: Settings, redis: Any, logs: Path) -> None:
        super().__init__(Children(logs), settings.parliament, settings.redis_url,
                         settings.ledger_dir, priests=settings.priests or 0, redis=redis,
                         env={"PAXOS_SECRET": settings.secret or ""}, keep_settings=True)
        self.logs = logs

    def start(self) -> None:
        self.spawn_god()
        for k in range(self.target):
            self.spawn_priest(f"priest-{k}")

    def restart_god(self, priests: int, remove_after: float) -> None:
        """Stop the god; start one that wants ``priests`` voters."""
        if self.god is not None:
            self.retire(self.god)
        self.spawn_god(priests, remove_after=remove_after, name="god-restarted")

    def retire(self, child: Child) -> None:
        """Stop one child on purpose (SIGTERM, then SIGKILL)."""
        child.stop(STOP_GRACE_S)

    def priests(self) -> list[Child]:
        """The priest processes running, not stopped on purpose."""
        return [c for c in self.children.all
                if c.name.startswith("priest") and not c.stopped and c.alive]

    def check_alive(self) -> None:
        child = self.children.exited()
        if child is not None:
            raise CliError(f"{child.name} exited with code {child.returncode}: "
                           f"{child.tail(1).strip()} (log: {child.log})")

    def wait_founded(self, timeout: float) -> Beat:
        """Wait for the god to found the parliament with our priests, and for a president."""
        def founded() -> Beat | None:
            self.check_alive()
            return self.founded()
        president = poll(founded, timeout)
        if president is None:
            raise CliError(f"the god did not found the parliament with {self.target} priests "
                           f"and elect a president within {timeout:g} s; see the logs in "
                           f"{self.logs}")
        return president

    def caught_up(self, known: int, timeout: float) -> bool:
        """Wait until every running priest's heartbeat knows every decree below ``known``."""
        def done() -> bool:
            beats = self.live_beats()
            return len(beats) == len(self.priests()) and all(b.known >= known
                                                             for b in beats.values())
        return poll(done, timeout) is not None

    def settle(self, timeout: float = CATCH_UP_TIMEOUT_S) -> bool:
        """Wait until every running priest knows as much law as the one that knows most."""
        top = max((b.known for b in self.live_beats().values()), default=0)
        return self.caught_up(top, timeout)

    def stop(self) -> None:
        """SIGTERM everyone (priests drain and exit), then SIGKILL whoever lingers."""
        self.children.stop(grace=STOP_GRACE_S)


# ---------------------------------------------------------------- the citizens

class Citizens:
    """Threads, each with its own :class:`Client`, passing the petitions ``bodies``."""

    def __init__(self, url: str, parliament: str, bodies: Sequence[str], citizens: int,
                 timeout: float) -> None:
        self.url, self.parliament, self.timeout = url, parliament, timeout
        self.bodies = list(bodies)
        self.told: dict[str, int] = {}          # body -> the decree number its citizen got
        self.latencies: list[float] = []
        self.finished: list[float] = []          # monotonic completion times
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self.threads = [threading.Thread(target=self._citizen, name=f"citizen-{k}", daemon=True)
                        for k in range(citizens)]
        self.started = self.ended = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """No new petitions; wait briefly for those in flight (the threads are daemons)."""
        self.stopping.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(1.0)

    def running(self) -> bool:
        alive = any(thread.is_alive() for thread in self.threads)
        if not alive and not self.ended:
            self.ended = max(self.finished, default=time.monotonic())
        return alive

    def wait(self, check: Any = None) -> None:
        """Until every petition is answered (``check()`` between looks)."""
        while self.running():
            if check is not None:
                check()
            time.sleep(POLL_S)

    def passed(self) -> int:
        return len(self.told)

    def _take(self) -> int | None:
        with self._lock:
            i, self._next = self._next, self._next + 1
        return i if i < len(self.bodies) and not self.stopping.is_set() else None

    def _citizen(self) -> None:
        try:
            with Client.from_url(self.url, parliament=self.parliament) as client:
                while (i := self._take()) is not None:
                    self._petition(client, i)
        except (PaxosError, RedisError) as exc:
            with self._lock:
                self.errors.append(f"a citizen gave up: {exc}")

    def _petition(self, client: Any, i: int) -> None:
        body, start = self.bodies[i], time.perf_counter()
        try:
            number = client.petition(body, self.timeout, pid=f"demo-{body}")
        except (PaxosError, RedisError) as exc:
            with self._lock:
                self.errors.append(f"{body}: {exc}")
            return
        with self._lock:
            self.told[body] = number
            self.latencies.append(time.perf_counter() - start)
            self.finished.append(time.monotonic())


def tally(main: Citizens, *more: Citizens) -> Tally:
    """The petitions of every round; the throughput of ``main``."""
    out = Tally(passed=main.passed(),
                seconds=(main.ended or time.monotonic()) - main.started if main.started else 0.0)
    for round_ in (main, *more):
        out.bodies += round_.bodies
        out.told.update(round_.told)
        out.errors += round_.errors
        out.latencies += round_.latencies
    return out
