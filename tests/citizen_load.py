"""Concurrent citizens for process tests: load through :class:`paxos_redis.citizen.client.Client`.

:class:`Citizens` drives concurrent load: each petition has its own pid (and a body equal
to that pid, so a ledger's ``N,DECREE`` lines name the petition); a
:class:`PetitionTimeout` or :class:`ParliamentUnavailable` is retried with the SAME pid,
the documented way, and a petition counts as acknowledged only when a decree number came
back.  :func:`check_law` holds the law read back against what the citizens were told.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from processes import wait_for

from paxos_redis.citizen.client import Client
from paxos_redis.errors import ParliamentUnavailable, PetitionTimeout

# ------------------------------------------------------------------ citizens and load

def law_map(lines: Iterable[str]) -> dict[str, int]:
    """``N,DECREE`` lines -> decree body -> N; AssertionError if a body appears twice."""
    out: dict[str, int] = {}
    for line in lines:
        n, _, body = line.partition(",")
        assert body not in out, f"{body!r} is in the law twice: at {out[body]} and at {n}"
        out[body] = int(n)
    return out


@dataclass
class Outcome:
    """What happened to one petition, as its citizen saw it."""

    pid: str
    n: int | None = None
    sent: float = 0.0
    acked: float | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


class Citizens:
    """Concurrent citizens: ``shared`` threads on one Client plus ``own`` threads with a Client
    each, passing ``total`` petitions named ``<prefix>-t<thread>-<k>`` between them."""

    def __init__(self, redis_url: str, parliament: str, total: int, *, shared: int = 4,
                 own: int = 1, prefix: str = "p", timeout: float = 5.0,
                 give_up: float = 90.0) -> None:
        self.redis_url, self.parliament, self.total = redis_url, parliament, total
        self.prefix, self.timeout, self.give_up = prefix, timeout, give_up
        self.threads_n = shared + own
        self.clients = [Client.from_url(redis_url, parliament=parliament)
                        for _ in range(1 + own)]
        self.client_of = [self.clients[0]] * shared + self.clients[1:]
        self.outcomes: dict[str, Outcome] = {}
        self.lock = threading.Lock()
        self.acked_count = 0
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), name=f"citizen-{i}",
                                         daemon=True) for i in range(self.threads_n)]
        self.crashes: list[BaseException] = []

    def pids(self, thread: int) -> list[str]:
        return [f"{self.prefix}-t{thread}-{k:05d}" for k in range(thread, self.total,
                                                                   self.threads_n)]

    def start(self) -> Citizens:
        for thread in self.threads:
            thread.start()
        return self

    def _run(self, index: int) -> None:
        client = self.client_of[index]
        try:
            for pid in self.pids(index):
                if self.stop_event.is_set():
                    return
                self._pass(client, pid)
        except BaseException as exc:        # noqa: BLE001 - reported by join()
            self.crashes.append(exc)

    def _pass(self, client: Client, pid: str) -> None:
        outcome = Outcome(pid, sent=time.monotonic())
        with self.lock:
            self.outcomes[pid] = outcome
        until = outcome.sent + self.give_up
        while time.monotonic() < until and not self.stop_event.is_set():
            outcome.attempts += 1
            try:
                n = client.petition(pid, timeout=self.timeout, pid=pid)
            except (PetitionTimeout, ParliamentUnavailable) as exc:
                outcome.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue                    # the documented way: again, with the SAME pid
            outcome.n, outcome.acked = n, time.monotonic()
            with self.lock:
                self.acked_count += 1
            return

    def wait_acked(self, count: int, timeout: float) -> None:
        wait_for(lambda: self.acked_count >= count or self.crashes, timeout,
                 f"{count} acknowledged petitions (have {self.acked_count})")
        assert not self.crashes, f"a citizen thread crashed: {self.crashes[0]!r}"

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:
            self.stop_event.set()
            raise AssertionError(f"citizens {alive} still petitioning after {timeout:g} s "
                                 f"({self.acked_count} of {self.total} acknowledged)")
        assert not self.crashes, f"a citizen thread crashed: {self.crashes[0]!r}"

    def acked(self) -> dict[str, int]:
        """pid -> the decree number its citizen was given."""
        return {pid: o.n for pid, o in self.outcomes.items() if o.n is not None}

    def unacked(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.n is None]

    def retried(self) -> int:
        return sum(1 for o in self.outcomes.values() if o.attempts > 1)

    def close(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(10)
        for client in self.clients:
            with contextlib.suppress(Exception):
                client.close()


def check_law(law: dict[str, int], citizens: Citizens, *, complete: bool = True) -> None:
    """Every acknowledged petition is in ``law`` once, at its number; nothing foreign is;
    with ``complete``, every petition the citizens sent passed."""
    acked = citizens.acked()
    wrong = {pid: (n, law.get(pid)) for pid, n in acked.items() if law.get(pid) != n}
    assert not wrong, (f"{len(wrong)} acknowledged petitions are missing or at another number "
                       f"(pid: (given, in law)): {dict(list(wrong.items())[:10])}")
    foreign = [body for body in law if body not in citizens.outcomes and
               body.startswith(citizens.prefix + "-")]
    assert not foreign, f"the law holds petitions nobody sent: {foreign[:10]}"
    if complete:
        missing = [o.pid for o in citizens.unacked()]
        assert not missing, f"{len(missing)} petitions never got a number: {missing[:10]}"
