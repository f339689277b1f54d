"""A multi-process Parliament for tests: god(s) and priest processes on a test's Redis.

Every process runs in its own session (process group) and logs to its own file under
``root/logs``; :meth:`Parliament.close` ends every process group it started (SIGTERM, then
SIGKILL), so a failing test leaves nothing running.

A priest is its ledger: by default each priest process gets a ledger directory of its own,
``root/ledgers/<k>`` (as priests on different hosts would), so it starts as a new priest
with a new identity; ``Parliament(shared=True)``, or ``start_priest(ledger_dir=...)``,
puts several in one directory (as compose's one volume does), where each takes the first
ledger no other process holds.  Identities are found from the roster
(:func:`paxos_redis.messengers.heartbeat.read_roster`): a process is known by the ``pid`` its beat shows.
The president is the live priest whose beat says so, the voters are the members its law
names, and every wait has a deadline whose failure message carries the roster and log
tails.  Load (concurrent citizens) lives in ``citizen_load.py``, reading and checking the
ledgers in ``ledger_checks.py``, and what these processes share with the demo's and the
benchmark's in :mod:`paxos_redis.tools.local_parliament`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from ledger_checks import LedgerChecks

from paxos_redis.messengers.connection import TRANSIENT, connect
from paxos_redis.messengers.heartbeat import Beat, president_of
from paxos_redis.protocol.membership import name as hex_name
from paxos_redis.tools.local_parliament import (
    Child,
    Children,
    LocalParliament,
    cli_argv,
    inherited_env,
    poll,
)

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def cli_command() -> list[str]:
    """``paxos-redis`` from the venv if installed there, else ``python -m paxos_redis.tools.cli``."""
    script = Path(sys.executable).with_name("paxos-redis")
    return [str(script)] if script.exists() else cli_argv()


def clean_env() -> dict[str, str]:
    """This environment without any PAXOS_* or REDIS_URL (a command's settings come from flags)."""
    return {k: v for k, v in inherited_env().items() if k != "REDIS_URL"}


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
    got = poll(predicate, timeout, interval)
    if got is None:
        detail = explain() if explain is not None else ""
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{detail}")
    return got


class Process(Child):
    """One child process (its own process group), its log file and, for a priest, its
    ledger directory and (once it beats) its identity."""

    def __init__(self, name: str, argv: list[str], log: Path, *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        super().__init__(name, argv, log, env=env, cwd=cwd)
        self.ledger_dir: Path | None = None
        self.priest: int | None = None

    def tail(self, lines: int = 15) -> str:
        return f"--- {self.name} (pid {self.pid}, rc {self.poll()}):\n" + super().tail(lines)


class Parliament(LedgerChecks, LocalParliament):
    """Gods plus priest processes of parliament ``name`` on ``redis_url``; see the module
    doc.  ``priests`` is the god's ``--priests``: how many priests should vote."""

    def __init__(self, redis_url: str, root: Path, *, priests: int = 5, name: str = "test",
                 env: dict[str, str] | None = None, shared: bool = False) -> None:
        self.root = Path(root)
        self.ledger_root = self.root / "ledgers"
        self.ledger_root.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        super().__init__(Children(self.root / "logs", numbered=True), name, redis_url,
                         self.ledger_root / "shared", priests=priests, cwd=self.root,
                         redis=connect(redis_url, socket_timeout=2.0, socket_connect_timeout=1.0),
                         env={"PYTHONPATH": path, **(env or {})})
        self.shared = shared                  # priests share one directory, ledger_dir
        self.priests: dict[int, Process] = {}     # identity -> the process acting as it now
        self.dirs: dict[int, Path] = {}           # identity -> its ledger directory
        self.unknown: list[Process] = []          # priest processes not seen beating yet
        self._dirs = 0

    @property
    def name(self) -> str:
        return self.parliament

    # ------------------------------------------------------------ spawning

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        """Start ``argv`` in its own session with stdout+stderr going to ``logs/<name>-<k>.log``
        (``env`` overrides :meth:`env` for this process)."""
        return self.children.add(Process(name, argv, self.children.log_path(name),
                                         env={**self.env(), **(env or {})}, cwd=self.cwd))

    def god_argv(self) -> list[str]:
        return [sys.executable, str(REPO / "workers" / "god.py")]

    def priest_argv(self) -> list[str]:
        return [sys.executable, str(REPO / "workers" / "priest.py")]

    def start_god(self, priests: int | None = None, *,
                  remove_after: float | None = None) -> Child:
        """The god (one at a time through this method); returns once it provisioned."""
        assert self.god is None or not self.god.alive, "a god is already running"
        god = self.spawn_god(priests, remove_after=remove_after)
        wait_for(lambda: self._provisioned() or not god.alive, 15,
                 "the god to provision the parliament", explain=self.explain)
        assert god.alive, f"the god exited\n{god.tail()}"
        return god

    def _provisioned(self) -> bool:
        try:
            return bool(self.redis.exists(self.keys.petitions()))
        except TRANSIENT:
            return False

    def stop_god(self, timeout: float = 10.0) -> int:
        assert self.god is not None
        self.god.signal(signal.SIGTERM)
        return self.god.wait(timeout)

    def new_ledger_dir(self) -> Path:
        """``root/ledgers/<k>``, a directory no priest used yet (a host of its own)."""
        self._dirs += 1
        path = self.ledger_root / str(self._dirs)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start_priest(self, *, ledger_dir: Path | None = None, identity: int | None = None,
                     wait: bool = True, timeout: float = 20.0) -> Process:
        """One priest process: in ``ledger_dir``, else the shared directory (``shared``),
        else a new ``root/ledgers/<k>``; with ``identity``, ``--identity`` (its ledger must
        be in that directory).  With ``wait``, until it beats."""
        if ledger_dir is None and identity is not None:
            ledger_dir = self.dirs[identity]
        if ledger_dir is None:
            ledger_dir = self.ledger_dir if self.shared else self.new_ledger_dir()
        ledger_dir.mkdir(parents=True, exist_ok=True)
        argv = self.priest_argv()
        if identity is not None:
            argv += ["--identity", hex_name(identity)]
        process = self.spawn("priest" if identity is None else f"priest-{hex_name(identity)}",
                             argv, {"PAXOS_LEDGER_DIR": str(ledger_dir)})
        self.adopt(process, ledger_dir, identity)
        if wait:
            self.wait_beating(process, timeout)
        return process

    def adopt(self, process: Process, ledger_dir: Path, identity: int | None = None) -> None:
        """Count ``process`` as a priest in ``ledger_dir`` (acting as ``identity``, if known;
        else it is known once it beats)."""
        process.ledger_dir, process.priest = ledger_dir, identity
        if identity is None:
            self.unknown.append(process)
        else:
            self._known_as(process, identity)

    def _known_as(self, process: Process, priest: int) -> None:
        process.priest = priest
        self.priests[priest] = process
        if process.ledger_dir is not None:
            self.dirs[priest] = process.ledger_dir
        if process in self.unknown:
            self.unknown.remove(process)

    def wait_beating(self, process: Process, timeout: float = 20.0) -> int:
        """Wait until ``process`` beats; record and return the identity it acts as."""
        def beating() -> Beat | None:
            if not process.alive:
                raise AssertionError(f"{process.name} exited early\n{process.tail()}")
            return self.beat_of(process)
        beat = wait_for(beating, timeout, f"{process.name} (pid {process.pid}) to beat",
                        explain=self.explain)
        self._known_as(process, beat.priest)
        return beat.priest

    def start(self, *, priests: int | None = None, timeout: float = 30.0) -> Parliament:
        """God, then ``priests`` (default: :attr:`target`) priest processes; returns once
        every one beats, the parliament is founded and one of them presides."""
        self.start_god()
        started = [self.start_priest(wait=False) for _ in range(priests or self.target)]
        for process in started:
            self.wait_beating(process, timeout)
        self.wait_founded(timeout)
        self.president(timeout)
        return self

    # ------------------------------------------------------------ looking at the roster

    def beats(self) -> dict[int, Beat]:
        """Identity -> its beat, for every priest with a live beat ({} if Redis is down)."""
        try:
            return super().beats()
        except TRANSIENT:
            return {}

    def live(self) -> dict[int, Process]:
        return {priest: p for priest, p in self.priests.items() if p.alive}

    def live_beats(self) -> dict[int, Beat]:
        """Beats of the live priests we started, each as the identity it is known by (a
        dead one's stale beat ignored); a process not known yet is known by its first beat."""
        beats = super().live_beats()
        for process in list(self.unknown):
            beat = next((b for b in beats.values() if b.pid == process.pid), None)
            if beat is not None:
                self._known_as(process, beat.priest)
        live = {p.pid: priest for priest, p in self.live().items()}
        return {p: b for p, b in beats.items() if live.get(b.pid) == p}

    def current_president(self, *, exclude_pid: int | None = None) -> int | None:
        """The identity whose live priest process says it presides."""
        chosen = self.presiding(exclude_pid)
        return None if chosen is None else chosen.priest

    def president_pid(self) -> int | None:
        priest = self.current_president()
        return None if priest is None else self.priests[priest].pid

    def president(self, timeout: float = 20.0, *, exclude_pid: int | None = None) -> int:
        """Wait until a live priest presides; its identity."""
        return wait_for(lambda: self.current_president(exclude_pid=exclude_pid), timeout,
                        "a president", explain=self.explain)

    def members(self) -> frozenset[int]:
        """The members governing now, as the president's law (else the most knowing
        priest's) names them."""
        beats = self.beats()
        view = president_of(beats) or max(beats.values(), key=lambda b: b.known, default=None)
        return frozenset(view.members) if view is not None else frozenset()

    def voters(self) -> set[int]:
        """Live priests that are members and say so themselves."""
        members = self.members()
        return {p for p, b in self.live_beats().items() if p in members and b.role == "voter"}

    def listeners(self) -> set[int]:
        """Live priests that learn the law and do not vote."""
        members = self.members()
        return {p for p, b in self.live_beats().items()
                if p not in members and b.role == "listener"}

    def role(self, priest: int) -> str | None:
        beat = self.beats().get(priest)
        return None if beat is None else beat.role

    def wait_founded(self, timeout: float = 30.0) -> str:
        """Wait until every live priest we started knows the founding; the genesis."""
        def founded() -> str | None:
            beats = self.live_beats()
            genesis = {b.genesis for b in beats.values()}
            if set(beats) == set(self.live()) and len(genesis) == 1 and "" not in genesis:
                return genesis.pop()
            return None
        return wait_for(founded, timeout, "the parliament to be founded", explain=self.explain)

    def wait_voter(self, priest: int, timeout: float = 60.0) -> float:
        """Wait until ``priest`` votes: its beat says voter and the president's members
        include it; the seconds it took."""
        began = time.monotonic()
        wait_for(lambda: priest in self.voters(), timeout,
                 f"priest {hex_name(priest)} to be a voter", interval=0.05, explain=self.explain)
        return time.monotonic() - began

    def known(self) -> dict[int, int]:
        """Identity -> ``known`` (first decree number not known passed), live priests."""
        return {priest: beat.known for priest, beat in self.live_beats().items()}

    def wait_converged(self, timeout: float = 30.0, *, priests: Iterable[int] | None = None,
                       settle: float = 0.3) -> int:
        """Wait until every live (or given) priest reports the same ``known`` twice,
        ``settle`` s apart; returns it."""
        want = set(self.live() if priests is None else priests)

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

        return wait_for(stable, timeout, f"{len(want)} priests to agree on the law",
                        explain=self.explain) - 1

    def status(self) -> str:
        beats = self.beats()
        members = self.members()
        rows = [f"{b.name}: pid={b.pid} role={b.role}{' member' if p in members else ''} "
                f"president={int(b.president)} known={b.known} next_bal={b.next_bal} "
                f"pending_until={b.pending_until}" for p, b in sorted(beats.items())]
        return "roster:\n  " + ("\n  ".join(rows) if rows else "(none)")

    def explain(self) -> str:
        """Roster and log tails, for failure messages."""
        parts = [self.status()]
        parts += [p.tail() for p in self.children.all[-(self.target + 3):]]
        return "\n".join(parts)

    # ------------------------------------------------------------ faults

    def kill(self, priest: int, sig: int = signal.SIGKILL) -> Process:
        """Signal ``priest``'s process (default kill -9); waits for it if it must die."""
        process = self.priests[priest]
        process.signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            process.wait(15)
        return process

    def stop(self, priest: int, timeout: float = 10.0) -> int:
        """SIGTERM ``priest``'s process and return its exit status (within ``timeout``)."""
        process = self.priests[priest]
        process.signal(signal.SIGTERM)
        return process.wait(timeout)

    def stop_all(self, timeout: float = 10.0) -> dict[int, int]:
        """SIGTERM every live priest at once; identity -> exit status."""
        live = self.live()
        for process in live.values():
            process.signal(signal.SIGTERM)
        return {priest: process.wait(timeout) for priest, process in live.items()}

    def restart(self, priest: int, timeout: float = 20.0) -> Process:
        """Start ``priest`` again from its ledger (``--identity``), waiting for its beat."""
        old = self.priests.get(priest)
        assert old is None or not old.alive, f"{hex_name(priest)} still runs (pid {old.pid})"
        return self.start_priest(identity=priest, timeout=timeout)

    # ------------------------------------------------------------ ledgers

    def ledger_law(self, priest: int | Path) -> list[str]:
        """``paxos-redis ledger --file F --law``: a ledger's ``N,DECREE`` lines."""
        path = priest if isinstance(priest, Path) else self.ledger_path(priest)
        done = subprocess.run([*cli_command(), "ledger", "--file", str(path), "--law"],
                              capture_output=True, text=True, timeout=60, env=self.env(),
                              cwd=str(self.root))
        assert done.returncode == 0, f"ledger --law of {path} failed: {done.stderr}"
        return done.stdout.splitlines()

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        """End every process group we started: SIGCONT+SIGTERM, then SIGKILL the stragglers."""
        self.children.stop()
        with contextlib.suppress(Exception):
            self.redis.close()
