"""``paxos-redis bench``: a parliament on this machine under load, and what it costs.

Modules, one job each:

* :mod:`~paxos_redis.tools.bench.cluster`: redis-server (or ``--redis``), a god, N priests;
* :mod:`~paxos_redis.tools.bench.citizen`: one citizen process (sequential or saturated load);
* :mod:`~paxos_redis.tools.bench.load`: the citizen processes of one phase, and their reports;
* :mod:`~paxos_redis.tools.bench.measure`: CPU and Redis command snapshots, latency percentiles;
* :mod:`~paxos_redis.tools.bench.runner`: the phases of a run, and its report as a dict;
* :mod:`~paxos_redis.tools.bench.report`, :mod:`~paxos_redis.tools.bench.progress`: text, JSON, stderr;
* :mod:`~paxos_redis.tools.bench.command`: the ``paxos-redis bench`` options.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["BenchError", "BenchOptions", "Progress", "run"]
#: where each public name lives; imported on first use, so ``paxos-redis priest`` (whose
#: parser knows the bench subcommand) does not load the benchmark
_HOMES = {"BenchError": "cluster", "BenchOptions": "runner", "Progress": "progress",
          "run": "runner"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
