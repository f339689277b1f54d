"""The citizens' load: M citizen processes (:mod:`paxos_redis.tools.bench.citizen`) and their talk.

Sequential load is one process with one petition at a time; saturated load splits a
window of ``W`` petitions in flight over ``M`` processes (``W // M`` each, the rest
spread one by one).  A thread per process reads its JSON lines (ready, progress,
result); :meth:`CitizenLoad.schedule` tells every process the same measured interval.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paxos_redis.errors import BenchError
from paxos_redis.tools.bench.cluster import Cluster
from paxos_redis.tools.local_parliament import Child


@dataclass
class CitizenState:
    proc: Child
    name: str
    window: int
    ready: bool = False
    done: int = 0
    errors: int = 0
    result: dict[str, Any] | None = None
    bad: list[str] = field(default_factory=list)


def split_window(window: int, citizens: int) -> list[int]:
    """``window`` petitions in flight over at most ``citizens`` processes (none empty)."""
    m = max(1, min(citizens, window))
    return [window // m + (1 if i < window % m else 0) for i in range(m)]


class CitizenLoad:
    """Start the citizens of one phase; :meth:`close` stops whatever is left of them."""

    def __init__(self, cluster: Cluster, *, mode: str, window: int, citizens: int, payload: int,
                 timeout: float, label: str) -> None:
        self.cluster, self.timeout = cluster, timeout
        windows = [1] if mode == "seq" else split_window(window, citizens)
        self.citizens: list[CitizenState] = []
        for i, w in enumerate(windows):
            name = f"citizen-{label}-{i}"
            argv = [sys.executable, "-m", "paxos_redis.tools.bench.citizen", "--redis", cluster.url,
                    "--parliament", cluster.parliament, "--payload", str(payload),
                    "--mode", mode, "--window", str(w), "--timeout", str(timeout)]
            proc = cluster.children.spawn(name, argv, env=cluster.env(), cwd=cluster.workdir,
                                          pipes=True)
            state = CitizenState(proc, name, w)
            self.citizens.append(state)
            threading.Thread(target=self._listen, args=(state,), daemon=True).start()

    @property
    def pids(self) -> list[int]:
        return [c.proc.pid for c in self.citizens]

    def _listen(self, state: CitizenState) -> None:
        assert state.proc.stdout is not None
        for raw in state.proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                state.bad.append(raw.decode(errors="replace")[:200])
                continue
            if "result" in message:
                state.result = message["result"]
            elif message.get("ready"):
                state.ready = True
            else:
                state.done, state.errors = int(message["done"]), int(message["errors"])

    def check(self) -> None:
        """Raise :class:`BenchError` if a citizen exited before giving its result."""
        for c in self.citizens:
            if c.proc.poll() is not None and c.result is None:
                time.sleep(0.2)                      # let the reader take the last line
                if c.result is None:
                    raise BenchError(f"{c.name} exited with status {c.proc.returncode} before "
                                     f"its result; {c.name}.log ends:\n"
                                     f"{c.proc.tail()}")

    def ready(self) -> bool:
        return all(c.ready for c in self.citizens)

    def done(self) -> int:
        return sum(c.done for c in self.citizens)

    def errors(self) -> int:
        return sum(c.errors for c in self.citizens)

    def schedule(self, start: float, until: float) -> None:
        line = (json.dumps({"from": start, "until": until}) + "\n").encode()
        for c in self.citizens:
            assert c.proc.stdin is not None
            c.proc.stdin.write(line)
            c.proc.stdin.flush()

    def finished(self) -> bool:
        return all(c.result is not None for c in self.citizens)

    def results(self) -> list[dict[str, Any]]:
        return [c.result for c in self.citizens if c.result is not None]

    def close(self) -> None:
        self.cluster.children.stop([c.proc for c in self.citizens], grace=2.0)
