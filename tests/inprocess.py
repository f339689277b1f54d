"""A whole parliament in one process: god and priests as threads on one Redis (or fakeredis).

Test support only: the same Worker and God the processes run, stepped by threads.  Each
priest is its ledger in ``ledger_dir`` (a new identity, drawn at random, per new priest);
the god founds the parliament with the first ``priests`` of them, as it would founding
processes, and :meth:`InProcessParliament.start` returns once they all vote.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paxos_redis.protocol import Rules
from paxos_redis.protocol.membership import IDENTITY_BITS, name
from paxos_redis.protocol.records import Identity
from paxos_redis.runtime.god import God
from paxos_redis.runtime.identity import open_ledger
from paxos_redis.runtime.settings import Settings
from paxos_redis.runtime.worker import Worker
from paxos_redis.storage.ledger import FileLedger


class InProcessParliament:
    def __init__(self, connect: Callable[[], Any], ledger_dir: Path, *, priests: int = 5,
                 parliament: str = "inproc", secret: str | None = None,
                 rules: Rules | None = None, **god: Any) -> None:
        self.connect = connect
        self.settings = Settings(ledger_dir=ledger_dir, priests=priests, parliament=parliament,
                                 secret=secret)
        if rules is not None:
            self.settings = self.settings.with_(rules=rules)
        self.priests = priests
        self.god = God(self.settings, connect(), **god)
        self.workers: dict[int, Worker] = {}
        self.threads: dict[int, threading.Thread] = {}

    def start(self, timeout: float = 15.0) -> InProcessParliament:
        self.god.provision()
        for _ in range(self.priests):
            self.start_priest()
        self.god_thread = threading.Thread(target=self.god.run, daemon=True, name="god")
        self.god_thread.start()
        deadline = time.monotonic() + timeout
        while not all(w.priest.role == "voter" for w in self.workers.values()):
            assert time.monotonic() < deadline, "the god did not found the parliament in time"
            time.sleep(0.02)
        return self

    def start_priest(self, priest: int | None = None) -> Worker:
        """Run priest ``priest`` again from its ledger, or (None) a new priest."""
        if priest is None:
            priest = secrets.randbits(IDENTITY_BITS) or 1
            ledger = FileLedger.open(self.settings.ledger_path(priest),
                                     create=Identity(self.settings.parliament, priest))
        else:
            ledger = open_ledger(self.settings.with_(identity=name(priest)))
        worker = Worker(self.settings, self.connect(), ledger)
        thread = threading.Thread(target=worker.run, daemon=True, name=f"priest-{worker.name}")
        self.workers[priest], self.threads[priest] = worker, thread
        thread.start()
        return worker

    def stop_priest(self, priest: int) -> None:
        self.workers[priest].stop()
        self.threads[priest].join(10)
        assert not self.threads[priest].is_alive(), f"priest {name(priest)} did not stop"

    def president(self) -> int | None:
        for priest, worker in self.workers.items():
            if self.threads[priest].is_alive() and worker.priest.is_president:
                return priest
        return None

    def laws(self) -> dict[int, list[tuple[int, Any]]]:
        """Each priest's applied law, read through its archive and its memory."""
        return {priest: [(e.n, e.decree) for e in w.priest.law.read(0, w.priest.law.known)]
                for priest, w in self.workers.items()}

    def close(self) -> None:
        self.god.stop()
        for priest in list(self.workers):
            if self.threads[priest].is_alive():
                self.stop_priest(priest)
