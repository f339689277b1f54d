"""A real priest process (``paxos-redis priest``) with fault hooks the nemesis switches.

The nemesis runs each priest on a *host* ``H`` (its ledger directory, and its network
namespace where there are links; env ``PAXOS_CHAOS_HOST``), and switches a fault on for
that host's priest by creating the file ``$PAXOS_CHAOS_DIR/hostH.<fault>`` and off by
deleting it (a host's faults outlive its priest's identity: a replaced priest is a new
identity on the same host):

``dup``    every XADD this priest sends (to priests and to citizens) goes out twice
           with probability 1/2;
``delay``  each XADD is held back with probability 1/2 for 10-500 ms and then sent with
           a later batch (so deliveries are late and out of order);
``fsync``  the ledger's next fsync fails with ENOSPC (a full disk): the ledger refuses
           every write after it and the priest stops, as it must;
``cut``    every Redis command fails with a connection error (the in-process link
           fault, used only where network namespaces are not available).

Everything else is the production priest: same CLI, same worker, same ledger.
"""

from __future__ import annotations

import errno
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import redis.client
from redis.exceptions import ConnectionError as RedisConnectionError

import paxos_redis.tools.cli as cli
from paxos_redis.messengers.conduit import Conduit
from paxos_redis.messengers.streams import Messenger
from paxos_redis.tools.cli import main

CHAOS = Path(os.environ["PAXOS_CHAOS_DIR"])
rng = random.Random(f"{os.environ.get('PAXOS_CHAOS_SEED', '0')}-{os.getpid()}")
HOST = os.environ.get("PAXOS_CHAOS_HOST")
state: dict[str, Any] = {"held": []}


def on(fault: str) -> bool:
    return HOST is not None and (CHAOS / f"host{HOST}.{fault}").exists()


def _open_ledger(settings: Any) -> Any:
    ledger = _real_open_ledger(settings)

    def fault(stage: str) -> None:
        if stage == "fsync" and on("fsync"):
            raise OSError(errno.ENOSPC, "No space left on device (injected by the nemesis)")
    ledger.faults = fault
    return ledger


def _mangle(items: list[Any]) -> list[Any]:
    """Duplicate and/or hold back entries as the flags say; add the held ones now due."""
    if on("dup"):
        items = items + [item for item in items if rng.random() < 0.5]
    if on("delay"):
        kept = []
        for item in items:
            if rng.random() < 0.5:
                state["held"].append((time.monotonic() + rng.uniform(0.01, 0.5), item))
            else:
                kept.append(item)
        items = kept
    now = time.monotonic()
    due = [item for at, item in state["held"] if at <= now]
    state["held"] = [(at, item) for at, item in state["held"] if at > now]
    return items + due


def _flush(self: Messenger, outgoing: Any, ack_ids: Any, extra: Any = (), **kwargs: Any) -> int:
    tagged = [("priest", item) for item in outgoing] + [("stream", item) for item in extra]
    tagged = _mangle(tagged)
    return _real_flush(self, [item for kind, item in tagged if kind == "priest"], ack_ids,
                       [item for kind, item in tagged if kind == "stream"], **kwargs)


def _post(self: Messenger, outgoing: Any) -> None:
    tagged = _mangle([("priest", item) for item in outgoing])
    state["held"] += [(0.0, item) for item in tagged if item[0] == "stream"]   # the next flush's
    _real_post(self, [item for kind, item in tagged if kind == "priest"])


def _guard(real: Any) -> Any:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if on("cut"):
            raise RedisConnectionError("link to Redis cut (in-process fault injected by the nemesis)")
        return real(self, *args, **kwargs)
    return call


_real_open_ledger = cli.open_ledger
_real_flush = Messenger.flush
_real_post = Messenger.post
cli.open_ledger = _open_ledger                              # what ``paxos-redis priest`` calls
Messenger.flush = _flush                                    # type: ignore[method-assign]
Messenger.post = _post                                      # type: ignore[method-assign]
redis.client.Redis.execute_command = _guard(redis.client.Redis.execute_command)  # type: ignore
redis.client.Pipeline.execute = _guard(redis.client.Pipeline.execute)            # type: ignore
Conduit.execute = _guard(Conduit.execute)                                        # type: ignore
Conduit.send = _guard(Conduit.send)                                              # type: ignore

if __name__ == "__main__":
    sys.exit(main(["priest", *sys.argv[1:]]))
