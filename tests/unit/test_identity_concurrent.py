"""Priests started at once in one ledger directory each get a ledger of their own.

A process looking for a free ledger may find one another process has just created, and
lock it before its creator does; the creator must then make another new priest, not
fail (the demo and the benchmark start all their priests at once).
"""

from __future__ import annotations

import threading
from pathlib import Path

from paxos_redis.runtime.identity import open_ledger
from paxos_redis.runtime.settings import Settings
from paxos_redis.storage.ledger import FileLedger

STARTERS = 16
TRIALS = 30


def start_at_once(settings: Settings) -> tuple[list[FileLedger], list[BaseException]]:
    barrier = threading.Barrier(STARTERS)
    opened: list[FileLedger] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            opened.append(open_ledger(settings))
        except BaseException as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return opened, errors


def test_priests_starting_at_once_each_open_a_ledger_of_their_own(tmp_path: Path) -> None:
    for trial in range(TRIALS):
        settings = Settings(ledger_dir=tmp_path / str(trial), parliament="p")
        opened, errors = start_at_once(settings)
        try:
            assert errors == [], f"trial {trial}: {errors[0]}"
            paths = {ledger.path for ledger in opened}
            assert len(paths) == STARTERS
            assert paths == set(settings.ledger_dir.glob("p-*.ledger"))
        finally:
            for ledger in opened:
                ledger.close()
