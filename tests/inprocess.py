"""A whole parliament in one process: god and priests as threads on one Redis (or fakeredis).

Test support only: the same Worker and God the processes run, stepped by threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paxos_redis.god import God
from paxos_redis.protocol import Rules
from paxos_redis.seats import claim
from paxos_redis.settings import Settings
from paxos_redis.worker import Worker


class InProcessParliament:
    def __init__(self, connect: Callable[[], Any], ledger_dir: Path, *, seats: int = 5,
                 parliament: str = "inproc", secret: str | None = None,
                 rules: Rules | None = None) -> None:
        self.connect = connect
        self.settings = Settings(ledger_dir=ledger_dir, priests=seats, parliament=parliament,
                                 secret=secret)
        if rules is not None:
            self.settings = self.settings.with_(rules=rules)
        self.seats = seats
        self.god = God(self.settings, connect())
        self.workers: dict[int, Worker] = {}
        self.threads: dict[int, threading.Thread] = {}

    def start(self) -> InProcessParliament:
        self.god.provision()
        for _ in range(self.seats):
            self.start_priest()
        self.god_thread = threading.Thread(target=self.god.run, daemon=True)
        self.god_thread.start()
        return self

    def start_priest(self, seat: int | None = None) -> Worker:
        settings = self.settings.with_(seat=seat)
        worker = Worker(settings, self.connect(), claim(settings, self.seats))
        thread = threading.Thread(target=worker.run, daemon=True, name=f"priest-{worker.seat}")
        self.workers[worker.seat], self.threads[worker.seat] = worker, thread
        thread.start()
        return worker

    def stop_priest(self, seat: int) -> None:
        self.workers[seat].stop()
        self.threads[seat].join(10)
        assert not self.threads[seat].is_alive(), f"priest {seat} did not stop"

    def president(self) -> int | None:
        for seat, worker in self.workers.items():
            if self.threads[seat].is_alive() and worker.priest.is_president:
                return seat
        return None

    def laws(self) -> dict[int, list[tuple[int, Any]]]:
        """Each priest's applied law, read through its archive and its memory."""
        return {seat: [(e.n, e.decree) for e in w.priest.law.read(0, w.priest.law.known)]
                for seat, w in self.workers.items()}

    def close(self) -> None:
        self.god.stop()
        for seat in list(self.workers):
            if self.threads[seat].is_alive():
                self.stop_priest(seat)
