"""A multi-process Parliament for tests: one god and N priest processes on a test's Redis.

Every process runs in its own session (process group), logs to its own file under
``root/logs`` and keeps its ledger under ``root/ledgers``; :meth:`Parliament.close`
ends every process group it started (SIGTERM, then SIGKILL), so a failing test
leaves nothing running.  Seats are found from the priests' heartbeats (field
``pid``), the president from the heartbeat field ``president == "1"``, and every
wait has a deadline whose failure message carries the status table and log tails.

:class:`Citizens` drives concurrent load through :class:`paxos_redis.client.Client`:
each petition has its own pid (and a body equal to that pid, so a ledger's
``N,DECREE`` lines name the petition); a :class:`PetitionTimeout` or
:class:`ParliamentUnavailable` is retried with the SAME pid, the documented way, and a
petition counts as acknowledged only when a decree number came back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from paxos_redis.client import Client
from paxos_redis.connection import TRANSIENT, connect
from paxos_redis.errors import ParliamentUnavailable, PetitionTimeout
from paxos_redis.keys import Keys

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cli_command() -> list[str]:
    """``paxos-redis`` from the venv if installed there, else ``python -m paxos_redis.cli``."""
    script = Path(sys.executable).with_name("paxos-redis")
    return [str(script)] if script.exists() else [sys.executable, "-m", "paxos_redis.cli"]


def clean_env() -> dict[str, str]:
    """This environment without any PAXOS_* or REDIS_URL (a command's settings come from flags)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("PAXOS_") and k != "REDIS_URL"}


def processes_using(ledger_dir: Path) -> list[int]:
    """Pids of live processes whose environment names ``ledger_dir`` (a command's children)."""
    marker = f"PAXOS_LEDGER_DIR={ledger_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, *,
             interval: float = 0.02, explain: Callable[[], str] | None = None) -> T:
    """``predicate()`` once truthy (polled); an AssertionError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            detail = explain() if explain is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{detail}")
        time.sleep(interval)


@dataclass
class Process:
    """One child process (its own process group) and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    seat: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group (nothing if it already exited)."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"--- {self.name}: (no log)"
        return f"--- {self.name} (pid {self.pid}, rc {self.popen.poll()}):\n" + "\n".join(text)


class Parliament:
    """God plus priest processes of parliament ``name`` on ``redis_url``; see the module doc."""

    def __init__(self, redis_url: str, root: Path, *, seats: int = 5,
                 name: str = "test", env: dict[str, str] | None = None) -> None:
        self.redis_url, self.root, self.seats, self.name = redis_url, Path(root), seats, name
        self.keys = Keys(name)
        self.ledger_dir = self.root / "ledgers"
        self.log_dir = self.root / "logs"
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = dict(env or {})
        self.god: Process | None = None
        self.priests: dict[int, Process] = {}     # seat -> the process holding it now
        self.everything: list[Process] = []       # every process ever started, for close()
        self.redis = connect(redis_url, socket_timeout=2.0, socket_connect_timeout=1.0)
        self._count = 0

    # ------------------------------------------------------------ environment and spawning

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAXOS_")}
        env.update({
            "REDIS_URL": self.redis_url, "PAXOS_PARLIAMENT": self.name,
            "PAXOS_LEDGER_DIR": str(self.ledger_dir), "PAXOS_PRIESTS": str(self.seats),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        })
        env.update(self.extra_env)
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        """Start ``argv`` in its own session with stdout+stderr going to ``logs/<name>-<k>.log``
        (``env`` overrides :meth:`env` for this process)."""
        self._count += 1
        log = self.log_dir / f"{name}-{self._count}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env={**self.env(), **(env or {})},
                                     cwd=str(self.root),
                                     start_new_session=True)
        process = Process(name, popen, log)
        self.everything.append(process)
        return process

    def start_god(self) -> Process:
        assert self.god is None or not self.god.alive, "a god is already running"
        self.god = self.spawn("god", [sys.executable, str(REPO / "workers" / "god.py"),
                                      "--priests", str(self.seats)])
        wait_for(lambda: self.redis.hget(self.keys.config(), "seats") is not None, 15,
                 "the god to provision the parliament", explain=self.explain)
        return self.god

    def start_priest(self, seat: int | None = None, *, wait: bool = True,
                     timeout: float = 20.0) -> Process:
        """One priest process (``--seat`` if given); with ``wait``, until its heartbeat shows."""
        argv = [sys.executable, str(REPO / "workers" / "priest.py")]
        if seat is not None:
            argv += ["--seat", str(seat)]
        process = self.spawn("priest" if seat is None else f"priest-seat{seat}", argv)
        if wait:
            self.wait_seated(process, timeout)
        return process

    def wait_seated(self, process: Process, timeout: float = 20.0) -> int:
        """Wait for ``process``'s heartbeat; record and return its seat."""
        def seated() -> int | None:
            if not process.alive:
                raise AssertionError(f"{process.name} exited early\n{process.tail()}")
            for seat, beat in self.heartbeats().items():
                if beat.get("pid") == str(process.pid):
                    return seat + 1               # seat 0 must be truthy
            return None
        seat = wait_for(seated, timeout, f"{process.name} (pid {process.pid}) to take a seat",
                        explain=self.explain) - 1
        process.seat = seat
        self.priests[seat] = process
        return seat

    def start(self, *, priests: int | None = None, timeout: float = 30.0) -> Parliament:
        """God, then ``priests`` (default: every seat) priest processes without ``--seat``;
        returns once every one is seated and one of them presides."""
        self.start_god()
        started = [self.start_priest(wait=False) for _ in range(priests or self.seats)]
        for process in started:
            self.wait_seated(process, timeout)
        self.president(timeout)
        return self

    # ------------------------------------------------------------ looking at Redis

    def heartbeats(self) -> dict[int, dict[str, str]]:
        """Seat -> heartbeat fields, for the seats with a live heartbeat ({} if Redis is down)."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            for seat in range(self.seats):
                pipe.hgetall(self.keys.heartbeat(seat))
            raw = pipe.execute()
        except TRANSIENT:
            return {}
        return {seat: {_text(k): _text(v) for k, v in beat.items()}
                for seat, beat in enumerate(raw) if beat}

    def live(self) -> dict[int, Process]:
        return {seat: p for seat, p in self.priests.items() if p.alive}

    def current_president(self, *, exclude_pid: int | None = None) -> int | None:
        """The seat whose live priest process says it presides (a dead one's stale beat ignored)."""
        live = {p.pid: seat for seat, p in self.live().items()}
        for seat, beat in self.heartbeats().items():
            pid = int(beat.get("pid", "0"))
            if beat.get("president") == "1" and pid in live and live[pid] == seat \
                    and pid != exclude_pid:
                return seat
        return None

    def president_pid(self) -> int | None:
        """The pid of the live priest process that presides, from the heartbeats."""
        seat = self.current_president()
        return None if seat is None else self.priests[seat].pid

    def president(self, timeout: float = 20.0, *, exclude_pid: int | None = None) -> int:
        """Wait until a live priest presides; its seat."""
        return wait_for(lambda: (s + 1 if (s := self.current_president(exclude_pid=exclude_pid))
                                 is not None else None), timeout, "a president",
                        explain=self.explain) - 1

    def known(self) -> dict[int, int]:
        """Seat -> ``known`` (first decree number not known passed) from the live heartbeats."""
        return {seat: int(beat.get("known", "0")) for seat, beat in self.heartbeats().items()
                if seat in self.live()}

    def wait_converged(self, timeout: float = 30.0, *, seats: Iterable[int] | None = None,
                       settle: float = 0.3) -> int:
        """Wait until every live (or given) seat reports the same ``known`` twice, ``settle`` s
        apart; returns it."""
        want = set(self.live() if seats is None else seats)

        def same() -> int | None:
            k = self.known()
            if set(k) >= want and len({k[s] for s in want}) == 1:
                return k[next(iter(want))] + 1
            return None

        def stable() -> int | None:
            first = same()
            if first is None:
                return None
            time.sleep(settle)
            return first if same() == first else None

        return wait_for(stable, timeout, f"seats {sorted(want)} to agree on the law",
                        explain=self.explain) - 1

    def status(self) -> str:
        beats = self.heartbeats()
        rows = [f"seat {s}: pid={b.get('pid')} president={b.get('president')} "
                f"known={b.get('known')} next_bal={b.get('next_bal')} hint={b.get('hint')}"
                for s, b in sorted(beats.items())]
        return "heartbeats:\n  " + ("\n  ".join(rows) if rows else "(none)")

    def explain(self) -> str:
        """Status and log tails, for failure messages."""
        parts = [self.status()]
        parts += [p.tail() for p in self.everything[-(self.seats + 2):]]
        return "\n".join(parts)

    # ------------------------------------------------------------ faults

    def kill(self, seat: int, sig: int = signal.SIGKILL) -> Process:
        """Signal the priest process in ``seat`` (default kill -9); waits for it if it must die."""
        process = self.priests[seat]
        process.signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            process.wait(15)
        return process

    def stop(self, seat: int, timeout: float = 10.0) -> int:
        """SIGTERM the priest in ``seat`` and return its exit status (within ``timeout``)."""
        process = self.priests[seat]
        process.signal(signal.SIGTERM)
        return process.wait(timeout)

    def stop_all(self, timeout: float = 10.0) -> dict[int, int]:
        """SIGTERM every live priest at once; seat -> exit status."""
        live = self.live()
        for process in live.values():
            process.signal(signal.SIGTERM)
        return {seat: process.wait(timeout) for seat, process in live.items()}

    def restart(self, seat: int, timeout: float = 20.0) -> Process:
        """Start a new priest process for ``seat`` (``--seat``), waiting for its heartbeat."""
        old = self.priests.get(seat)
        assert old is None or not old.alive, f"seat {seat} still runs (pid {old.pid})"
        return self.start_priest(seat, timeout=timeout)

    # ------------------------------------------------------------ ledgers

    def ledger_path(self, seat: int) -> Path:
        return self.ledger_dir / f"{self.name}-seat-{seat}.ledger"

    def ledger_law(self, seat: int) -> list[str]:
        """``paxos-redis ledger --file <seat's ledger> --law``: its ``N,DECREE`` lines."""
        done = subprocess.run([*cli_command(), "ledger", "--file", str(self.ledger_path(seat)),
                               "--law"], capture_output=True, text=True, timeout=60,
                              env=self.env(), cwd=str(self.root))
        assert done.returncode == 0, f"ledger --law of seat {seat} failed: {done.stderr}"
        return done.stdout.splitlines()

    def ledger_dump(self, seat: int) -> str:
        done = subprocess.run([*cli_command(), "ledger", "--file", str(self.ledger_path(seat))],
                              capture_output=True, text=True, timeout=60, env=self.env(),
                              cwd=str(self.root))
        assert done.returncode == 0, f"ledger dump of seat {seat} failed: {done.stderr}"
        return done.stdout

    def passed(self, seat: int) -> dict[int, str]:
        """Every decree the seat's ledger records as passed (raw, olive-days and repeats
        included): decree number -> its ``dump`` text (e.g. ``id=p-1 decree=p-1``)."""
        out: dict[int, str] = {}
        for line in self.ledger_dump(seat).splitlines():
            if line.startswith("passed n="):
                number, _, text = line[len("passed n="):].partition(" ")
                assert out.setdefault(int(number), text) == text, (
                    f"seat {seat}'s ledger passed two decrees at {number}: "
                    f"{out[int(number)]}, {text}")
        return out

    def check_one_law(self, seats: Iterable[int] | None = None) -> dict[int, str]:
        """No two ledgers record different decrees passed at one decree number (the
        Parliament's one promise); returns the union of what they passed."""
        union: dict[int, tuple[int, str]] = {}
        for seat in (range(self.seats) if seats is None else seats):
            if not self.ledger_path(seat).exists():
                continue
            for n, text in self.passed(seat).items():
                first = union.setdefault(n, (seat, text))
                assert first[1] == text, (f"decree {n} passed as {first[1]!r} at seat {first[0]} "
                                          f"but as {text!r} at seat {seat}")
        return {n: text for n, (_, text) in union.items()}

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        """End every process group we started: SIGCONT+SIGTERM, then SIGKILL the stragglers."""
        for process in self.everything:
            process.signal(signal.SIGCONT)
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.everything:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.everything:
            if process.alive:
                process.signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
            # the group may hold children that outlived their leader
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.redis.close()


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
