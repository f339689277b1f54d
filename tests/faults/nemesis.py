"""The nemesis: a real parliament, faults from a seed, every citizen operation recorded, checked.

A run starts its own ``redis-server``, two gods and 5 priest processes (``chaos_priest.py``:
the production priest with fault hooks), and 4 citizen threads, each with its own
:class:`~paxos_redis.client.Client`.  For ``seconds`` the nemesis injects, at random from
``seed``:

* ``kill``: kill -9 of a priest (the president 60% of the time), restarted 0.1-2 s later;
* ``pause``: SIGSTOP of a priest (president-biased too), SIGCONT 0.2-2.5 s later;
* ``redis``: kill -9 of ``redis-server``, restarted empty at once;
* ``cut``: a priest cut off from Redis for 0.5-8 s (past the 5 s socket timeout), by its
  own network namespace's link where the machine allows it (root, ``ip netns``), else by
  an in-process link fault;
* ``delay`` / ``dup``: a priest's outgoing messages held back 10-500 ms / sent twice;
* ``fsync``: the next fsync of a priest's ledger fails (full disk): the priest must stop,
  and is restarted;
* ``god``: kill -9 of one of the two gods, restarted 0.5-3 s later.

Usually at most two priests are down (killed, paused, cut, or stopping on a failed fsync)
at once, so the parliament makes progress during the run too; one fault in five may take a
third, and with it the quorum, until one comes back.  Each citizen operation is
recorded as invoke / ok (with its decree number) / fail / unknown.  At the end every
fault is healed, the parliament must pass one more petition (liveness) and converge, the
priests are stopped, and :mod:`linearizability` checks the history against the laws read
from every ledger.  A run prints one line: seed, duration, faults by kind, operations by
outcome, link mode, verdict.

Run alone: ``python tests/faults/nemesis.py --seed 7 --seconds 30`` (``--runs N`` for
seeds ``seed .. seed+N-1``); ``NEMESIS_LINK=inprocess`` forces the in-process link fault.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from linearizability import Op, Verdict, check, prefix_check  # noqa: E402
from netns import Links, available  # noqa: E402

from paxos_redis.client import Client  # noqa: E402
from paxos_redis.errors import (  # noqa: E402
    DecreeTooLarge,
    ParliamentUnavailable,
    PetitionTimeout,
)
from tests.processes import REPO, Parliament, Process, wait_for  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

SEATS = 5
MAX_DOWN = 2
DOWN_KINDS = ("kill", "pause", "cut", "fsync")
INJECTED = "injected by the nemesis"        # in the log of a priest whose fsync we failed
#: a priest (re)started while its link was cut stops with this one line; its supervisor
#: (compose's restart policy; here the nemesis) starts it again
STARTUP_OUTAGE = "is unreachable: "
WEIGHTS = {"kill": 3, "pause": 2, "redis": 1, "cut": 2, "delay": 1, "dup": 1, "fsync": 1,
           "god": 1}


@dataclass
class Report:
    seed: int
    seconds: float
    link: str
    faults: Counter[str] = field(default_factory=Counter)
    ops: Counter[str] = field(default_factory=Counter)
    verdict: Verdict = field(default_factory=Verdict)
    elapsed: float = 0.0
    decrees: int = 0

    def line(self) -> str:
        faults = " ".join(f"{k}={self.faults[k]}" for k in WEIGHTS)
        ops = " ".join(f"{k}={self.ops[k]}" for k in ("invoked", "ok", "fail", "unknown"))
        verdict = "ok" if self.verdict else "VIOLATION: " + "; ".join(self.verdict.problems[:5])
        return (f"nemesis seed={self.seed} duration={self.elapsed:.1f}s link={self.link} "
                f"faults[{faults}] ops[{ops}] law={self.decrees} verdict={verdict}")


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


class FaultyParliament(Parliament):
    """Priests run ``chaos_priest.py``, each in its own namespace when there are links."""

    def __init__(self, server: RedisServer, root: Path, links: Links | None, seed: int) -> None:
        self.chaos = root / "chaos"
        self.chaos.mkdir(parents=True, exist_ok=True)
        super().__init__(server.url, root, seats=SEATS, name="nemesis",
                         env={"PAXOS_CHAOS_DIR": str(self.chaos), "PAXOS_CHAOS_SEED": str(seed)})
        self.server, self.links = server, links

    def start_priest(self, seat: int | None = None, *, wait: bool = True,
                     timeout: float = 20.0) -> Process:
        assert seat is not None
        argv = [sys.executable, str(HERE / "chaos_priest.py"), "--seat", str(seat)]
        env = {}
        if self.links is not None:
            argv = self.links.wrap(seat, argv)
            env["REDIS_URL"] = f"redis://{self.links.redis_host(seat)}:{self.server.port}/0"
        process = self.spawn(f"priest-seat{seat}", argv, env)
        process.seat = seat
        self.priests[seat] = process
        if wait:
            self.wait_seated(process, timeout)
        return process

    def spawn_god(self) -> Process:
        return self.spawn("god", [sys.executable, str(REPO / "workers" / "god.py"),
                                  "--priests", str(SEATS)])

    def start_gods(self, count: int) -> None:
        """``count`` gods at once (they share the work through a short election lock)."""
        self.gods = [self.spawn_god() for _ in range(count)]
        wait_for(lambda: self.redis.hget(self.keys.config(), "seats") is not None, 15,
                 "a god to provision the parliament", explain=self.explain)

    def flag(self, seat: int, fault: str, on: bool) -> None:
        path = self.chaos / f"seat{seat}.{fault}"
        if on:
            path.touch()
        else:
            path.unlink(missing_ok=True)


class Nemesis:
    """One run; see the module doc."""

    def __init__(self, seed: int, seconds: float, root: Path) -> None:
        self.seed, self.seconds, self.root = seed, seconds, root
        self.rng = random.Random(seed)
        why_not = ("NEMESIS_LINK=inprocess" if os.environ.get("NEMESIS_LINK") == "inprocess"
                   else available())
        self.links = Links(SEATS, self.rng) if why_not is None else None
        self.report = Report(seed, seconds, "netns" if self.links else
                             f"in-process (no netns: {why_not})")
        binds = self.links.hosts() if self.links else []
        self.server = RedisServer(root / "redis", args=(
            "--bind", "127.0.0.1", *binds, "--protected-mode", "no"))
        self.down: dict[int, str] = {}                  # seat -> the fault keeping it down
        self.noisy: set[int] = set()                    # seats with delay/dup on
        self.heals: list[tuple[float, Callable[[], None]]] = []
        self.expect_exit: set[int] = set()
        self.killed_gods: set[int] = set()
        self.events: list[str] = []
        self.t0 = time.monotonic()

    # ------------------------------------------------------------ faults

    def _target(self, president_bias: bool) -> int | None:
        free = [s for s in range(SEATS) if s not in self.down and s not in self.noisy]
        if not free:
            return None
        president = self.parliament.current_president()
        if president_bias and president in free and self.rng.random() < 0.6:
            return president
        return self.rng.choice(free)

    def _later(self, low: float, high: float, action: Callable[[], None]) -> None:
        self.heals.append((time.monotonic() + self.rng.uniform(low, high), action))

    def inject(self) -> None:
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        cap = MAX_DOWN + (self.rng.random() < 0.2)
        if kind in DOWN_KINDS and len(self.down) >= cap:
            return
        p = self.parliament
        if kind == "redis":
            self.event("redis kill -9, restart empty")
            self.server.restart()
            self.report.faults[kind] += 1
            return
        if kind == "god":
            god = self.rng.choice([g for g in p.gods if g.alive] or [None])
            if god is not None:
                self.report.faults[kind] += 1
                god.signal(signal.SIGKILL)
                god.wait(10)
                self.killed_gods.add(god.pid)
                self._later(0.5, 3.0, lambda: p.gods.append(p.spawn_god()))
            return
        seat = self._target(kind in ("kill", "pause"))
        if seat is None:
            return
        self.report.faults[kind] += 1
        self.event(f"{kind} seat {seat} (pid {p.priests[seat].pid})")
        if kind == "kill":
            self.down[seat] = kind
            p.kill(seat)
            self._later(0.1, 2.0, lambda: self._restart(seat))
        elif kind == "pause":
            self.down[seat] = kind
            p.priests[seat].signal(signal.SIGSTOP)
            self._later(0.2, 2.5, lambda: self._cont(seat))
        elif kind == "cut":
            self.down[seat] = kind
            self._cut(seat, True)
            self._later(0.5, 8.0, lambda: self._uncut(seat))
        elif kind in ("delay", "dup"):
            self.noisy.add(seat)
            p.flag(seat, kind, True)
            self._later(0.5, 3.0, lambda: self._quiet(seat, kind))
        elif kind == "fsync":
            self.down[seat] = kind
            self.expect_exit.add(seat)
            p.flag(seat, kind, True)
            self._later(5.0, 5.0, lambda: self._fsync_idle(seat))

    def _cut(self, seat: int, cut: bool) -> None:
        if self.links is not None:
            (self.links.cut if cut else self.links.heal)(seat)
        else:
            self.parliament.flag(seat, "cut", cut)

    def _restart(self, seat: int) -> None:
        """Start the seat's priest again, unless it already has a live one (a supervisor
        never runs two copies: the second would only find the ledger locked)."""
        current = self.parliament.priests.get(seat)
        if current is None or not current.alive:
            self.parliament.start_priest(seat, wait=False)
            self.event(f"restart seat {seat}")
        else:
            self.event(f"restart seat {seat} skipped: pid {current.pid} is alive")
        self.down.pop(seat, None)

    def event(self, text: str) -> None:
        """One line of the run's event log (``nemesis-events.log`` beside its logs)."""
        self.events.append(f"{time.monotonic() - self.t0:9.3f} {text}")

    def _cont(self, seat: int) -> None:
        self.parliament.priests[seat].signal(signal.SIGCONT)
        self.down.pop(seat, None)

    def _uncut(self, seat: int) -> None:
        self._cut(seat, False)
        self.down.pop(seat, None)

    def _quiet(self, seat: int, kind: str) -> None:
        self.parliament.flag(seat, kind, False)
        self.noisy.discard(seat)

    def _fsync_idle(self, seat: int) -> None:
        """The priest wrote nothing for 5 s, so its fsync never failed: take the fault back."""
        if seat in self.expect_exit:
            self.parliament.flag(seat, "fsync", False)
            if self.parliament.priests[seat].alive:
                self.expect_exit.discard(seat)
                self.down.pop(seat, None)
            else:
                self.watch()

    def watch(self) -> None:
        """Restart a priest whose fsync failed, or that found Redis unreachable as it started;
        any other exit is a bug."""
        for seat, process in self.parliament.priests.items():
            if process.alive or self.down.get(seat) in ("kill", "restart"):
                continue
            tail = process.tail(3)
            self.event(f"seat {seat} pid {process.pid} exited rc {process.popen.poll()}: "
                       f"{tail.splitlines()[-1][:120]}")
            if seat in self.expect_exit or INJECTED in tail or STARTUP_OUTAGE in tail:
                self.expect_exit.discard(seat)
                self.down[seat] = "restart"
                self.parliament.flag(seat, "fsync", False)
                self._later(0.1, 1.0, lambda s=seat: self._restart(s))   # type: ignore[misc]
            else:
                self.report.verdict.fail(f"priest in seat {seat} exited by itself "
                                         f"(rc {process.popen.poll()}):\n{process.tail(8)}")
                self._restart(seat)

    def watch_gods(self) -> None:
        for god in self.parliament.gods:
            if not god.alive and god.pid not in self.killed_gods:
                self.killed_gods.add(god.pid)
                self.report.verdict.fail(f"a god exited by itself (rc {god.popen.poll()}):\n"
                                         f"{god.tail(8)}")

    def heal_all(self) -> None:
        """Take back every fault: resume, reconnect, quiet, restart the dead; until every
        seat has a live priest."""
        for fault in ("delay", "dup", "fsync", "cut"):
            for seat in range(SEATS):
                self.parliament.flag(seat, fault, False)
        for seat in list(self.expect_exit):
            self.heals.append((0.0, lambda s=seat: self._fsync_idle(s)))  # type: ignore[misc]
        deadline = time.monotonic() + 30
        healthy_since = None                # a priest whose fsync failed may take a while to die
        while healthy_since is None or time.monotonic() - healthy_since < 1.0:
            assert time.monotonic() < deadline, f"could not heal: {self.down}\n" + \
                self.parliament.explain()
            self._tick(flush=True)
            self.watch()
            healthy = not (self.heals or self.down) and all(
                p.alive for p in self.parliament.priests.values())
            healthy_since = (healthy_since or time.monotonic()) if healthy else None
            time.sleep(0.05)

    def _tick(self, flush: bool = False) -> None:
        now = time.monotonic()
        due = [item for item in self.heals if flush or item[0] <= now]
        self.heals = [item for item in self.heals if item not in due]
        for _, action in due:
            action()

    # ------------------------------------------------------------ the run

    def run(self) -> Report:
        started = time.monotonic()
        self.server.start()
        self.parliament = FaultyParliament(self.server, self.root / "parliament", self.links,
                                           self.seed)
        history: History | None = None
        try:
            p = self.parliament
            p.start_gods(2)
            for seat in range(SEATS):
                p.start_priest(seat, wait=False)
            for seat in range(SEATS):
                p.wait_seated(p.priests[seat])
            p.president()
            history = History(self.server.url, p.name, self.seed).start()
            until = time.monotonic() + self.seconds
            next_fault = time.monotonic() + self.rng.uniform(0.3, 1.5)
            while time.monotonic() < until:
                self._tick()
                self.watch()
                self.watch_gods()
                if time.monotonic() >= next_fault:
                    self.inject()
                    next_fault = time.monotonic() + self.rng.uniform(0.3, 1.5)
                time.sleep(0.01)
            self.heal_all()
            time.sleep(1.0)
            history.stop()
            self._liveness(history)
            p.wait_converged(60, seats=range(SEATS))
            self._check(history)
        finally:
            if history is not None:
                history.stop()
            (self.root / "nemesis-events.log").write_text("\n".join(self.events) + "\n")
            self.parliament.close()
            self.server.stop()
            if self.links is not None:
                self.links.close()
        self.report.elapsed = time.monotonic() - started
        return self.report

    def _liveness(self, history: History) -> None:
        """After healing, the parliament must pass a petition again."""
        client = Client.from_url(self.server.url, parliament=self.parliament.name)
        try:
            pid = f"s{self.seed}-final"
            wait_for(lambda: history.attempt(client, pid, pid, 5.0), 60,
                     "a petition to pass after every fault healed",
                     interval=0.0, explain=self.parliament.explain)
        finally:
            client.close()

    def _check(self, history: History) -> None:
        p, verdict = self.parliament, self.report.verdict
        for exc in history.crashes:
            verdict.fail(f"a citizen thread crashed: {exc!r}")
        p.stop_all(15)
        raws = [p.passed(seat) for seat in range(SEATS)]
        for n in sorted({n for raw in raws for n in raw}):
            texts = {raw[n] for raw in raws if n in raw}
            if len(texts) > 1:
                verdict.fail(f"priests passed different decrees at {n}: {sorted(texts)}")
        laws = [{n: raw[n] for n in range(_prefix(raw))} for raw in raws]
        if len({len(law) for law in laws}) != 1:
            verdict.fail(f"the priests did not converge: laws of {[len(x) for x in laws]} decrees")
        for problem in prefix_check(laws).problems:
            verdict.fail(problem)
        law: dict[int, str] = {}
        seen: set[str] = set()
        for n, text in sorted(laws[0].items()):
            pid = text.split(" ")[0].removeprefix("id=")
            if text == "olive-day" or pid.startswith("!") or pid in seen:
                continue                    # the law holds a retried petition once, first
            seen.add(pid)
            law[n] = pid
        for problem in check(history.ops, law).problems:
            verdict.fail(problem)
        self.report.decrees = len(law)
        ops = self.report.ops
        ops["invoked"] = len(history.ops)
        ops.update(op.outcome for op in history.ops)


def _prefix(raw: dict[int, str]) -> int:
    """How many decrees ``raw`` holds with no hole below them."""
    n = 0
    while n in raw:
        n += 1
    return n


def run(seed: int, seconds: float, *, keep: bool = False) -> Report:
    root = Path(tempfile.mkdtemp(prefix=f"nemesis-{seed}-"))
    try:
        report = Nemesis(seed, seconds, root).run()
    except BaseException:
        print(f"nemesis seed={seed}: run failed; files kept in {root}", file=sys.stderr)
        raise
    if report.verdict and not keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"nemesis seed={seed}: logs and ledgers kept in {root}", file=sys.stderr)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true", help="keep logs and ledgers")
    args = parser.parse_args()
    # SIGTERM ends the run in hand through its cleanup (processes, redis-server, namespaces);
    # a second one (`timeout` forwards its own, say) must not cut that cleanup short
    def terminate(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)

    signal.signal(signal.SIGTERM, terminate)
    total: Counter[str] = Counter()
    bad = 0
    for seed in range(args.seed, args.seed + args.runs):
        try:
            report = run(seed, args.seconds, keep=args.keep)
        except Exception as exc:            # noqa: BLE001 - a failed run is counted, not fatal
            report = Report(seed, args.seconds, "?")
            report.verdict.fail(f"run failed: {str(exc).splitlines()[0]}")
        print(report.line(), flush=True)
        total.update(report.faults)
        total.update({f"op-{k}": v for k, v in report.ops.items()})
        bad += not report.verdict
    print(f"nemesis total: runs={args.runs} violations={bad} " +
          " ".join(f"{k}={v}" for k, v in sorted(total.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
