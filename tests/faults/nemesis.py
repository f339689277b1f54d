"""The nemesis: a real parliament, faults from a seed, every citizen operation recorded, checked.

A run starts its own ``redis-server``, two gods (``--priests 5 --remove-after 4``) and 5
priest processes on 5 of 7 *hosts* (``hosts.py``: a host is a ledger directory and, where
the machine allows, a network namespace; priests run ``chaos_priest.py``, the production
priest with fault hooks), and 4 citizen threads, each with its own
:class:`~paxos_redis.citizen.client.Client`.  For ``seconds`` the nemesis injects, at random from
``seed``:

* ``kill``: kill -9 of a priest (the president 60% of the time), restarted 0.1-2 s later;
* ``pause``: SIGSTOP of a priest (president-biased too), SIGCONT 0.2-2.5 s later;
* ``redis``: kill -9 of ``redis-server``, restarted empty at once;
* ``cut``: a priest cut off from Redis for 0.5-8 s (past the 5 s socket timeout), by its
  host's network namespace's link where the machine allows it (root, ``ip netns``), else
  by an in-process link fault;
* ``delay`` / ``dup``: a priest's outgoing messages held back 10-500 ms / sent twice;
* ``fsync``: the next fsync of a priest's ledger fails (full disk): the priest must stop,
  and is restarted;
* ``god``: kill -9 of one of the two gods, restarted 0.5-3 s later;
* ``scale_up``: a new priest on a vacant host (a listener; the gods admit it when a member
  is removed);
* ``scale_down``: a priest stopped for good (SIGTERM, exit 0); the gods remove it by decree
  and admit a listener in its place;
* ``replace``: kill -9 of a priest, its ledger directory deleted, a new priest started on
  that host 0.1-2 s later: a new identity, admitted once the old one is removed;
* ``duplicate``: a copy of a running priest's ledger started in another directory: it must
  refuse to start (another process acts as that priest), and the original keeps running.

Usually at most a minority of the members but one (two of five) are unavailable (down,
paused, cut, or gone for good and not yet removed) at once, so the parliament makes
progress during the run too; one transient fault in five may take one more, and with it
the quorum, until one comes back.  A priest leaves for good only while the others keep a
majority without it.  Each citizen operation is recorded as invoke / ok (with its decree
number) / fail / unknown.  At the end every transient fault is healed, the parliament must
pass one more petition (liveness) and converge, the priests are stopped, and
:mod:`linearizability` checks the history against the laws read from every ledger (of
priests running, stopped, killed, and the duplicates' copies).  A run prints one line:
seed, duration, faults by kind, operations by outcome, changes of membership passed, link
mode, verdict.

Run alone: ``python tests/faults/nemesis.py --seed 7 --seconds 30`` (``--runs N`` for
seeds ``seed .. seed+N-1``); ``NEMESIS_LINK=inprocess`` forces the in-process link fault.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]

from history import History  # noqa: E402
from hosts import FaultyParliament  # noqa: E402
from linearizability import Verdict, check, citizens_law, prefix, prefix_check  # noqa: E402
from membership_faults import (  # noqa: E402
    TWIN_DEADLINE,
    MembershipFaults,
    Twin,
    membership_changes,
)
from netns import Links, available  # noqa: E402

from paxos_redis.citizen.client import Client  # noqa: E402
from paxos_redis.protocol.membership import name  # noqa: E402
from tests.processes import wait_for  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

PRIESTS = 5                                 # voters the gods keep
HOSTS = 7                                   # room for two more priests
REMOVE_AFTER = 4.0                          # the gods' --remove-after (s)
INJECTED = "injected by the nemesis"        # in the log of a priest whose fsync we failed
#: a priest (re)started while its link was cut stops with this one line; its supervisor
#: (compose's restart policy; here the nemesis) starts it again
STARTUP_OUTAGE = "is unreachable: "
WEIGHTS = {"kill": 3, "pause": 2, "redis": 1, "cut": 2, "delay": 1, "dup": 1, "fsync": 1,
           "god": 1, "scale_up": 1, "scale_down": 1, "replace": 1, "duplicate": 1}


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
    #: changes of membership passed (admissions and removals, by decree)
    changes: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        faults = " ".join(f"{k}={self.faults[k]}" for k in WEIGHTS)
        ops = " ".join(f"{k}={self.ops[k]}" for k in ("invoked", "ok", "fail", "unknown"))
        changes = " ".join(f"{k}={self.changes[k]}" for k in ("admit", "remove"))
        verdict = "ok" if self.verdict else "VIOLATION: " + "; ".join(self.verdict.problems[:5])
        return (f"nemesis seed={self.seed} duration={self.elapsed:.1f}s link={self.link} "
                f"faults[{faults}] ops[{ops}] members[{changes}] law={self.decrees} "
                f"verdict={verdict}")


class Nemesis(MembershipFaults):
    """One run; see the module doc."""

    def __init__(self, seed: int, seconds: float, root: Path) -> None:
        self.seed, self.seconds, self.root = seed, seconds, root
        self.rng = random.Random(seed)
        why_not = ("NEMESIS_LINK=inprocess" if os.environ.get("NEMESIS_LINK") == "inprocess"
                   else available())
        self.links = Links(HOSTS, self.rng) if why_not is None else None
        self.report = Report(seed, seconds, "netns" if self.links else
                             f"in-process (no netns: {why_not})")
        binds = self.links.hosts() if self.links else []
        self.server = RedisServer(root / "redis", args=(
            "--bind", "127.0.0.1", *binds, "--protected-mode", "no"))
        self.down: dict[int, str] = {}                  # host -> the fault keeping it down
        self.noisy: set[int] = set()                    # hosts with delay/dup on
        self.busy: set[int] = set()                     # hosts whose priest has a twin starting
        self.departed: set[int] = set()                 # priests gone for good, still members
        self.twins: list[Twin] = []
        self.members: frozenset[int] = frozenset()      # as last seen, pending ones too
        self.current: frozenset[int] = frozenset()      # the members governing, last seen
        self.heals: list[tuple[float, Callable[[], None]]] = []
        self.expect_exit: set[int] = set()
        self.killed_gods: set[int] = set()
        self.events: list[str] = []
        self.t0 = time.monotonic()

    # ------------------------------------------------------------ faults

    def _later(self, low: float, high: float, action: Callable[[], None]) -> None:
        self.heals.append((time.monotonic() + self.rng.uniform(low, high), action))

    def inject(self) -> None:
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        p = self.parliament
        if kind == "redis":
            if self.twins:              # a twin's refusal rests on the claim Redis holds
                return
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
                self._later(0.5, 3.0, p.spawn_nemesis_god)
            return
        if kind == "scale_up":
            vacant = [h for h, proc in p.on_host.items() if proc is None]
            if vacant:
                host = self.rng.choice(vacant)
                self.report.faults[kind] += 1
                process = p.start_on(host, fresh=True)
                self.event(f"scale_up: a new priest on host {host} (pid {process.pid})")
            return
        host = self._target(kind in ("kill", "pause"))
        if host is None or not self._allowed(kind, host):
            return
        process = p.on_host[host]
        assert process is not None
        priest = process.priest
        if kind == "duplicate":
            self._duplicate(host, priest)
            return
        self.report.faults[kind] += 1
        self.event(f"{kind} host {host} (pid {process.pid}, priest "
                   f"{name(priest) if priest else '?'})")
        if kind == "kill":
            self.down[host] = kind
            process.signal(signal.SIGKILL)
            process.wait(15)
            self._later(0.1, 2.0, lambda: self._restart(host))
        elif kind == "pause":
            self.down[host] = kind
            process.signal(signal.SIGSTOP)
            self._later(0.2, 2.5, lambda: self._cont(host))
        elif kind == "cut":
            self.down[host] = kind
            self._cut(host, True)
            self._later(0.5, 8.0, lambda: self._uncut(host))
        elif kind in ("delay", "dup"):
            self.noisy.add(host)
            p.flag(host, kind, True)
            self._later(0.5, 3.0, lambda: self._quiet(host, kind))
        elif kind == "fsync":
            self.down[host] = kind
            self.expect_exit.add(host)
            p.flag(host, kind, True)
            self._later(5.0, 5.0, lambda: self._fsync_idle(host))
        elif kind == "scale_down":
            p.vacate(host)
            process.signal(signal.SIGTERM)
            try:
                code = process.wait(15)
            except subprocess.TimeoutExpired:
                process.signal(signal.SIGKILL)
                code = process.wait(10)
                self.report.verdict.fail(f"a priest did not stop within 15 s of SIGTERM:\n"
                                         f"{process.tail(8)}")
            if code != 0:
                self.report.verdict.fail(f"a priest stopped for good (SIGTERM) exited {code}:"
                                         f"\n{process.tail(8)}")
            self._depart(priest)
        elif kind == "replace":
            self.down[host] = kind
            process.signal(signal.SIGKILL)
            process.wait(15)
            p.wipe(host)
            self._depart(priest)
            self._later(0.1, 2.0, lambda: self._restart(host))

    def _cut(self, host: int, cut: bool) -> None:
        if self.links is not None:
            (self.links.cut if cut else self.links.heal)(host)
        else:
            self.parliament.flag(host, "cut", cut)

    def _restart(self, host: int) -> None:
        """Start the host's priest again, unless it already has a live one (a supervisor
        never runs two copies: the second would only find the ledger locked)."""
        current = self.parliament.on_host.get(host)
        if current is None or not current.alive:
            process = self.parliament.start_on(host)
            self.event(f"restart host {host}: pid {process.pid}")
        else:
            self.event(f"restart host {host} skipped: pid {current.pid} is alive")
        self.down.pop(host, None)

    def event(self, text: str) -> None:
        """One line of the run's event log (``nemesis-events.log`` beside its logs)."""
        self.events.append(f"{time.monotonic() - self.t0:9.3f} {text}")

    def _cont(self, host: int) -> None:
        process = self.parliament.on_host[host]
        if process is not None:
            process.signal(signal.SIGCONT)
        self.down.pop(host, None)

    def _uncut(self, host: int) -> None:
        self._cut(host, False)
        self.down.pop(host, None)

    def _quiet(self, host: int, kind: str) -> None:
        self.parliament.flag(host, kind, False)
        self.noisy.discard(host)

    def _fsync_idle(self, host: int) -> None:
        """The priest wrote nothing for 5 s, so its fsync never failed: take the fault back."""
        if host in self.expect_exit:
            self.parliament.flag(host, "fsync", False)
            process = self.parliament.on_host[host]
            if process is not None and process.alive:
                self.expect_exit.discard(host)
                self.down.pop(host, None)
            else:
                self.watch()

    def watch(self) -> None:
        """Restart a priest whose fsync failed, or that found Redis unreachable as it started;
        any other exit is a bug."""
        for host, process in self.parliament.running().items():
            if process.alive or self.down.get(host) in ("kill", "restart", "replace"):
                continue
            tail = process.tail(3)
            self.event(f"host {host} pid {process.pid} exited rc {process.poll()}: "
                       f"{tail.splitlines()[-1][:120]}")
            if host in self.expect_exit or INJECTED in tail or STARTUP_OUTAGE in tail:
                self.expect_exit.discard(host)
                self.down[host] = "restart"
                self.parliament.flag(host, "fsync", False)
                self._later(0.1, 1.0, lambda h=host: self._restart(h))   # type: ignore[misc]
            else:
                self.report.verdict.fail(f"the priest on host {host} exited by itself "
                                         f"(rc {process.poll()}):\n{process.tail(8)}")
                self._restart(host)

    def watch_gods(self) -> None:
        for god in self.parliament.gods:
            if not god.alive and god.pid not in self.killed_gods:
                self.killed_gods.add(god.pid)
                self.report.verdict.fail(f"a god exited by itself (rc {god.poll()}):\n"
                                         f"{god.tail(8)}")

    def heal_all(self) -> None:
        """Take back every transient fault: resume, reconnect, quiet, restart the dead;
        until every host that holds a priest runs it, and every twin has refused."""
        for fault in ("delay", "dup", "fsync", "cut"):
            for host in range(HOSTS):
                self.parliament.flag(host, fault, False)
        for host in list(self.expect_exit):
            self.heals.append((0.0, lambda h=host: self._fsync_idle(h)))  # type: ignore[misc]
        deadline = time.monotonic() + 30 + TWIN_DEADLINE
        healthy_since = None                # a priest whose fsync failed may take a while to die
        while healthy_since is None or time.monotonic() - healthy_since < 1.0:
            assert time.monotonic() < deadline, f"could not heal: {self.down}\n" + \
                self.parliament.explain()
            self._tick(flush=True)
            self.watch()
            self.watch_twins()
            healthy = not (self.heals or self.down or self.twins) and all(
                p.alive for p in self.parliament.running().values())
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
                                           self.seed, priests=PRIESTS, hosts=HOSTS,
                                           remove_after=REMOVE_AFTER)
        history: History | None = None
        try:
            p = self.parliament
            p.start_gods(2)
            first = [p.start_on(host) for host in range(PRIESTS)]
            for process in first:
                p.wait_beating(process)
            p.wait_founded()
            p.president()
            self._members()
            history = History(self.server.url, p.name, self.seed).start()
            until = time.monotonic() + self.seconds
            next_fault = time.monotonic() + self.rng.uniform(0.3, 1.5)
            while time.monotonic() < until:
                self._tick()
                self.watch()
                self.watch_twins()
                self.watch_gods()
                if time.monotonic() >= next_fault:
                    self.inject()
                    next_fault = time.monotonic() + self.rng.uniform(0.3, 1.5)
                time.sleep(0.01)
            self.heal_all()
            time.sleep(1.0)
            history.stop()
            self._liveness(history)
            for god in p.gods:                  # no more changes asked: the law settles
                god.signal(signal.SIGTERM)
                god.wait(10)
            p.wait_converged(60)
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
        """Every ledger (running, stopped, killed, copied) agrees; the running priests'
        laws are one law; the citizens' history is linearizable against it."""
        p, verdict = self.parliament, self.report.verdict
        for exc in history.crashes:
            verdict.fail(f"a citizen thread crashed: {exc!r}")
        codes = p.stop_all(15)
        for priest, code in codes.items():
            if code != 0:
                verdict.fail(f"priest {name(priest)} exited {code} on SIGTERM")
        raws = {path: p.passed(path) for path in p.ledgers()}
        for n in sorted({n for raw in raws.values() for n in raw}):
            texts = {raw[n] for raw in raws.values() if n in raw}
            if len(texts) > 1:
                verdict.fail(f"priests passed different decrees at {n}: {sorted(texts)}")
        laws = {path: prefix(raw) for path, raw in raws.items()}
        final = {priest: laws[p.ledger_path(priest)] for priest in codes}
        if len({len(law) for law in final.values()}) != 1:
            verdict.fail("the running priests did not converge: laws of "
                         f"{sorted(len(x) for x in final.values())} decrees")
        for problem in prefix_check(list(laws.values())).problems:
            verdict.fail(problem)
        longest = max(final, key=lambda priest: len(final[priest]))
        law = citizens_law(final[longest])
        for problem in check(history.ops, law).problems:
            verdict.fail(problem)
        self.report.decrees = len(law)
        self.report.changes = membership_changes(p.ledger_path(longest))
        ops = self.report.ops
        ops["invoked"] = len(history.ops)
        ops.update(op.outcome for op in history.ops)


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
