"""One citizen process of the benchmark: petitions without pause, timed by its parent.

    python -m paxos_redis.tools.bench.citizen --redis URL --parliament P --payload B \
        --mode seq|saturated [--window W] [--timeout S]

``seq``: one blocking :class:`~paxos_redis.citizen.client.Client`, one petition at a time.
``saturated``: one :class:`~paxos_redis.citizen.aio.AsyncClient` with ``W`` petitions always
in flight.  The conversation with the parent is JSON lines:

* stdout ``{"ready": true}`` once a first barrier has passed; load starts at once
  (the parent's warm-up);
* stdout ``{"done": N, "errors": E}`` about every 0.25 s (petitions finished so far);
* stdin ``{"from": T0, "until": T1}`` (``time.monotonic()``, which is one clock for all
  processes of a Linux machine): petitions that finish in ``[T0, T1]`` are measured;
  none is started after ``T1``;
* stdout ``{"result": {"decrees": n, "errors": e, "latencies_us": [...]}}``, then exit.

If stdin closes before a schedule arrives (the parent is gone) the citizen stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from typing import Any

from paxos_redis.citizen.aio import AsyncClient
from paxos_redis.citizen.client import Client
from paxos_redis.errors import PaxosError

READY_TIMEOUT_S = 60.0
PROGRESS_S = 0.25


class Tally:
    """What the citizen has done, shared by the load, the stdin reader and the reporter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = self.errors = 0
        self.start = float("inf")
        self.until = float("inf")
        self.stopped = threading.Event()           # the schedule's end, or the parent left
        self.latencies_us: list[int] = []
        self.measured_errors = 0

    def running(self, now: float) -> bool:
        return now < self.until and not self.stopped.is_set()

    def finished(self, began: float, ended: float, ok: bool) -> None:
        with self.lock:
            if ok:
                self.done += 1
            else:
                self.errors += 1
            if self.start <= ended <= self.until:
                if ok:
                    self.latencies_us.append(round((ended - began) * 1e6))
                else:
                    self.measured_errors += 1


def emit(lock: threading.Lock, message: dict[str, Any]) -> None:
    with lock:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def read_schedule(tally: Tally) -> None:
    """Wait on stdin for ``{"from": T0, "until": T1}``; EOF first means: stop now."""
    line = sys.stdin.readline()
    if not line:
        tally.stopped.set()
        return
    plan = json.loads(line)
    with tally.lock:
        tally.start, tally.until = float(plan["from"]), float(plan["until"])


def report(tally: Tally, out: threading.Lock, quit_: threading.Event) -> None:
    while not quit_.wait(PROGRESS_S):
        with tally.lock:
            done, errors = tally.done, tally.errors
        emit(out, {"done": done, "errors": errors})


def sequential(args: argparse.Namespace, tally: Tally, ready: Any) -> None:
    payload = b"x" * args.payload
    with Client.from_url(args.redis, parliament=args.parliament) as citizen:
        _until_ready(lambda: citizen.sync(timeout=2.0))
        ready()
        while tally.running(time.monotonic()):
            began = time.monotonic()
            try:
                citizen.petition(payload, timeout=args.timeout)
                ok = True
            except PaxosError:
                ok = False
            tally.finished(began, time.monotonic(), ok)


def saturated(args: argparse.Namespace, tally: Tally, ready: Any) -> None:
    payload = b"x" * args.payload

    async def load() -> None:
        async with AsyncClient.from_url(args.redis, parliament=args.parliament) as citizen:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                try:
                    await citizen.sync(timeout=2.0)
                    break
                except PaxosError:
                    if time.monotonic() > deadline:
                        raise
            ready()

            async def one_slot() -> None:
                while tally.running(time.monotonic()):
                    began = time.monotonic()
                    try:
                        await citizen.petition(payload, timeout=args.timeout)
                        ok = True
                    except PaxosError:
                        ok = False
                    tally.finished(began, time.monotonic(), ok)

            await asyncio.gather(*(one_slot() for _ in range(args.window)))

    asyncio.run(load())


def _until_ready(attempt: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            attempt()
            return
        except PaxosError:
            if time.monotonic() > deadline:
                raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paxos_redis.tools.bench.citizen")
    ap.add_argument("--redis", required=True)
    ap.add_argument("--parliament", required=True)
    ap.add_argument("--payload", type=int, default=100)
    ap.add_argument("--mode", choices=("seq", "saturated"), default="seq")
    ap.add_argument("--window", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args(argv)
    tally, out, quit_ = Tally(), threading.Lock(), threading.Event()
    threading.Thread(target=report, args=(tally, out, quit_), daemon=True).start()

    def ready() -> None:
        emit(out, {"ready": True})
        threading.Thread(target=read_schedule, args=(tally,), daemon=True).start()

    (sequential if args.mode == "seq" else saturated)(args, tally, ready)
    quit_.set()
    if tally.until == float("inf"):
        return 1                                       # the parent went away: no result
    with tally.lock:
        emit(out, {"result": {"decrees": len(tally.latencies_us), "errors": tally.measured_errors,
                              "latencies_us": tally.latencies_us}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
