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
tails.  Load (concurrent citizens) lives in ``citizen_load.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from paxos_redis.messengers.connection import TRANSIENT, connect
from paxos_redis.messengers.heartbeat import Beat, president_of, read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.membership import name as hex_name
from paxos_redis.storage.ledger import dump, replay

REPO = Path(__file__).resolve().parents[1]
HOST = socket.gethostname()
T = TypeVar("T")


def cli_command() -> list[str]:
    """``paxos-redis`` from the venv if installed there, else ``python -m paxos_redis.tools.cli``."""
    script = Path(sys.executable).with_name("paxos-redis")
    return [str(script)] if script.exists() else [sys.executable, "-m", "paxos_redis.tools.cli"]


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


def ledger_files(directory: Path) -> list[Path]:
    """Every ledger file under ``directory`` (any depth)."""
    return sorted(directory.rglob("*.ledger"))


def ledger_records(path: Path) -> list[Any]:
    """A ledger's records, archived law included (read-only, as ``paxos-redis ledger``)."""
    return replay(path, path.read_bytes())[0]


@dataclass
class Process:
    """One child process (its own process group), its log file and, for a priest, its
    ledger directory and (once it beats) its identity."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    ledger_dir: Path | None = None
    priest: int | None = None
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
    """Gods plus priest processes of parliament ``name`` on ``redis_url``; see the module
    doc.  ``priests`` is the god's ``--priests``: how many priests should vote."""

    def __init__(self, redis_url: str, root: Path, *, priests: int = 5, name: str = "test",
                 env: dict[str, str] | None = None, shared: bool = False) -> None:
        self.redis_url, self.root, self.name = redis_url, Path(root), name
        self.target = priests
        self.keys = Keys(name)
        self.ledger_root = self.root / "ledgers"
        self.ledger_dir = self.ledger_root / "shared"             # the one shared directory
        self.shared = shared
        self.log_dir = self.root / "logs"
        self.ledger_root.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = dict(env or {})
        self.god: Process | None = None
        self.gods: list[Process] = []
        self.priests: dict[int, Process] = {}     # identity -> the process acting as it now
        self.dirs: dict[int, Path] = {}           # identity -> its ledger directory
        self.unknown: list[Process] = []          # priest processes not seen beating yet
        self.everything: list[Process] = []       # every process ever started, for close()
        self.redis = connect(redis_url, socket_timeout=2.0, socket_connect_timeout=1.0)
        self._count = 0
        self._dirs = 0

    # ------------------------------------------------------------ environment and spawning

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAXOS_")}
        env.update({
            "REDIS_URL": self.redis_url, "PAXOS_PARLIAMENT": self.name,
            "PAXOS_LEDGER_DIR": str(self.ledger_dir), "PYTHONUNBUFFERED": "1",
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
                                     cwd=str(self.root), start_new_session=True)
        process = Process(name, popen, log)
        self.everything.append(process)
        return process

    def spawn_god(self, priests: int | None = None, *,
                  remove_after: float | None = None) -> Process:
        """A god process (``--priests``, default :attr:`target`); it provisions at once."""
        argv = [sys.executable, str(REPO / "workers" / "god.py"),
                "--priests", str(priests or self.target)]
        if remove_after is not None:
            argv += ["--remove-after", f"{remove_after:g}"]
        god = self.spawn("god", argv)
        self.gods.append(god)
        return god

    def start_god(self, priests: int | None = None, *,
                  remove_after: float | None = None) -> Process:
        """The god (one at a time through this method); returns once it provisioned."""
        assert self.god is None or not self.god.alive, "a god is already running"
        self.god = god = self.spawn_god(priests, remove_after=remove_after)
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

    def priest_argv(self) -> list[str]:
        """The priest program (a subclass may run another)."""
        return [sys.executable, str(REPO / "workers" / "priest.py")]

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
        """Wait until ``process`` beats (its pid in a beat of this host); record and return
        the identity it acts as."""
        def beating() -> int | None:
            if not process.alive:
                raise AssertionError(f"{process.name} exited early\n{process.tail()}")
            return next((p for p, b in self.beats().items()
                         if b.pid == process.pid and b.host == HOST), None)
        priest = wait_for(beating, timeout, f"{process.name} (pid {process.pid}) to beat",
                          explain=self.explain)
        self._known_as(process, priest)
        return priest

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
            return read_roster(self.redis, self.keys)
        except TRANSIENT:
            return {}

    def live(self) -> dict[int, Process]:
        return {priest: p for priest, p in self.priests.items() if p.alive}

    def live_beats(self) -> dict[int, Beat]:
        """Beats of the live processes we started (a dead one's stale beat ignored); a
        process not known yet is known by its first beat."""
        beats = self.beats()
        if self.unknown:
            pids = {p.pid: p for p in self.unknown if p.alive}
            for priest, beat in beats.items():
                if beat.pid in pids and beat.host == HOST:
                    self._known_as(pids[beat.pid], priest)
        live = {p.pid: priest for priest, p in self.live().items()}
        return {p: b for p, b in beats.items() if live.get(b.pid) == p and b.host == HOST}

    def current_president(self, *, exclude_pid: int | None = None) -> int | None:
        """The identity whose live priest process says it presides."""
        chosen = president_of({p: b for p, b in self.live_beats().items()
                               if b.pid != exclude_pid})
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
        parts += [p.tail() for p in self.everything[-(self.target + 3):]]
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

    def ledger_path(self, priest: int) -> Path:
        return self.dirs[priest] / f"{self.name}-{hex_name(priest)}.ledger"

    def ledgers(self) -> list[Path]:
        """Every ledger file under ``root/ledgers`` (of priests running, gone, or copies)."""
        return ledger_files(self.ledger_root)

    def ledger_law(self, priest: int | Path) -> list[str]:
        """``paxos-redis ledger --file F --law``: a ledger's ``N,DECREE`` lines."""
        path = priest if isinstance(priest, Path) else self.ledger_path(priest)
        done = subprocess.run([*cli_command(), "ledger", "--file", str(path), "--law"],
                              capture_output=True, text=True, timeout=60, env=self.env(),
                              cwd=str(self.root))
        assert done.returncode == 0, f"ledger --law of {path} failed: {done.stderr}"
        return done.stdout.splitlines()

    def ledger_dump(self, priest: int | Path) -> str:
        """The ledger's dump, as ``paxos-redis ledger --file F`` prints it (read here)."""
        path = priest if isinstance(priest, Path) else self.ledger_path(priest)
        return dump(ledger_records(path))

    def passed(self, priest: int | Path) -> dict[int, str]:
        """Every decree a ledger records as passed (raw, olive-days and repeats included):
        decree number -> its ``dump`` text (e.g. ``id=p-1 decree=p-1``)."""
        out: dict[int, str] = {}
        for line in self.ledger_dump(priest).splitlines():
            if line.startswith("passed n="):
                number, _, text = line[len("passed n="):].partition(" ")
                assert out.setdefault(int(number), text) == text, (
                    f"{priest}'s ledger passed two decrees at {number}: "
                    f"{out[int(number)]}, {text}")
        return out

    def check_one_law(self, ledgers: Iterable[Path | int] | None = None) -> dict[int, str]:
        """No two ledgers (default: every one under ``root/ledgers``) record different
        decrees passed at one number (the Parliament's one promise); returns their union."""
        union: dict[int, tuple[str, str]] = {}
        for ledger in (self.ledgers() if ledgers is None else ledgers):
            where = str(ledger) if isinstance(ledger, Path) else hex_name(ledger)
            for n, text in self.passed(ledger).items():
                first = union.setdefault(n, (where, text))
                assert first[1] == text, (f"decree {n} passed as {first[1]!r} in {first[0]} "
                                          f"but as {text!r} in {where}")
        return {n: text for n, (_, text) in union.items()}

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        """End every process group we started: SIGCONT+SIGTERM, then SIGKILL the stragglers."""
        for process in self.everything:
            process.signal(signal.SIGCONT)
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.everything:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
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
