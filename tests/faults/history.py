"""Citizens for the nemesis: threads petitioning, every attempt recorded as an
:class:`~linearizability.Op` (invoke / ok with its decree number / fail / unknown)."""

from __future__ import annotations

import contextlib
import random
import threading
import time

from linearizability import Op

from paxos_redis.citizen.client import Client
from paxos_redis.errors import DecreeTooLarge, ParliamentUnavailable, PetitionTimeout


class History:
    """Citizen threads petitioning; every attempt recorded as an :class:`Op`."""

    def __init__(self, url: str, parliament: str, seed: int, threads: int = 4) -> None:
        self.ops: list[Op] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.clients = [Client.from_url(url, parliament=parliament, max_decree_bytes=4096)
                        for _ in range(threads)]
        self.seed = seed
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True,
                                         name=f"citizen-{i}") for i in range(threads)]
        self.crashes: list[BaseException] = []

    def start(self) -> History:
        for thread in self.threads:
            thread.start()
        return self

    def record(self, op: Op) -> None:
        with self.lock:
            self.ops.append(op)

    def attempt(self, client: Client, pid: str, body: str, timeout: float) -> bool:
        """One petition attempt, recorded; True once it has an answer (ok or fail)."""
        invoke = time.monotonic()
        try:
            n = client.petition(body, timeout=timeout, pid=pid)
        except DecreeTooLarge:
            self.record(Op(pid, invoke, time.monotonic(), "fail"))
            return True
        except (PetitionTimeout, ParliamentUnavailable):
            self.record(Op(pid, invoke, None, "unknown"))
            return False
        self.record(Op(pid, invoke, time.monotonic(), "ok", n))
        return True

    def _run(self, index: int) -> None:
        rng = random.Random(f"{self.seed}-citizen-{index}")
        client = self.clients[index]
        try:
            for k in range(10**9):
                if self.stopping.is_set():
                    return
                pid = f"s{self.seed}-c{index}-{k}"
                body = pid if rng.random() > 0.02 else pid + "x" * 5000      # 2% oversized
                for _ in range(3):              # retried with the SAME pid, as documented
                    if self.attempt(client, pid, body, 2.0) or self.stopping.is_set():
                        break
                    time.sleep(0.05)
        except BaseException as exc:            # noqa: BLE001 - reported as a violation
            self.crashes.append(exc)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)
        for client in self.clients:
            with contextlib.suppress(Exception):
                client.close()
