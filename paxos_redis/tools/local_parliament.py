"""A parliament on this machine: a god and priests, each a child process of this one.

:class:`Children` starts every child (a :class:`Child`: a :class:`subprocess.Popen` with a
name and a log file) in a session, so a process group, of its own, and ends them group by
group: SIGTERM, then SIGKILL, so that a failed or interrupted run leaves nothing running.
:class:`LocalParliament` starts the gods and priests of one parliament with its
environment, and reads the roster of heartbeats
(:func:`~paxos_redis.messengers.heartbeat.read_roster`) for the processes it started:
which one acts as which priest, whether the parliament is founded, who presides.

``paxos-redis demo`` (:mod:`paxos_redis.tools.demo_processes`), ``paxos-redis bench``
(:mod:`paxos_redis.tools.bench.cluster`) and the process tests (``tests/processes.py``)
build on these, each adding its own: the demo its citizens and embedded messengers, the
bench its redis-server and measurements, the tests their faults and ledger directories.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from paxos_redis.messengers.heartbeat import Beat, president_of, read_roster
from paxos_redis.messengers.keys import Keys

#: the host name the priests of this machine put in their beats
HOST = socket.gethostname()
POLL_S = 0.05
#: the settings that make one priest who it is, or the god's target: never inherited
OWN_SETTINGS = frozenset({"PAXOS_IDENTITY", "PAXOS_PRIESTS", "PAXOS_SEAT"})
#: the signals after which a child's exit is no surprise
ENDING = frozenset({signal.SIGTERM, signal.SIGKILL})

T = TypeVar("T")
C = TypeVar("C", bound="Child")


def cli_argv() -> list[str]:
    """``paxos-redis`` as this interpreter runs it (works from an installed package)."""
    return [sys.executable, "-m", "paxos_redis.tools.cli"]


def inherited_env(keep_settings: bool = False) -> dict[str, str]:
    """This process's environment, for a child: without any PAXOS_* setting (with
    ``keep_settings``, without only those of :data:`OWN_SETTINGS`)."""
    return {k: v for k, v in os.environ.items()
            if not (k in OWN_SETTINGS if keep_settings else k.startswith("PAXOS_"))}


def poll(predicate: Callable[[], T | None], timeout: float, interval: float = POLL_S) -> T | None:
    """``predicate()`` once it is truthy, asked every ``interval`` s; None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


# ---------------------------------------------------------------- child processes

class Child(subprocess.Popen[bytes]):
    """One child process, in a session (process group) of its own, stdout and stderr in
    ``log`` (with ``pipes``: stdin and stdout are pipes, only stderr goes to ``log``)."""

    def __init__(self, name: str, argv: list[str], log: Path, *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 pipes: bool = False) -> None:
        self.name, self.log = name, log
        self.started = time.monotonic()
        #: ended on purpose (SIGTERM or SIGKILL from here): its exit is no surprise
        self.stopped = False
        with open(log, "wb") as out:
            super().__init__(argv, stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                             stdout=subprocess.PIPE if pipes else out, stderr=out, env=env,
                             cwd=cwd, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group (nothing if the process already exited)."""
        if self.alive:
            self.stopped = self.stopped or sig in ENDING
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    def ask_to_end(self) -> None:
        """SIGCONT (should it be stopped) and SIGTERM to the process group."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)

    def finish(self, deadline: float) -> None:
        """Wait for the process until ``deadline``, then SIGKILL its group (whatever of it
        outlived the process too); close our ends of its pipes."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(max(0.05, deadline - time.monotonic()))
        if self.alive:
            self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for stream in (self.stdin, self.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop(self, grace: float = 5.0) -> int | None:
        """End it: SIGTERM, SIGKILL if it is still there after ``grace`` s; its exit status."""
        self.ask_to_end()
        self.finish(time.monotonic() + grace)
        return self.poll()

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of its log."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:]) or "(empty log)"


class Children:
    """The child processes of one run, each logging to ``logdir/<name>.log`` (with
    ``numbered``, the k-th child to ``<name>-<k>.log``, so that names may repeat)."""

    def __init__(self, logdir: Path, *, numbered: bool = False) -> None:
        self.logdir, self.numbered = logdir, numbered
        self.all: list[Child] = []

    def log_path(self, name: str) -> Path:
        """The log of the next child, ``name``."""
        self.logdir.mkdir(parents=True, exist_ok=True)
        return self.logdir / (f"{name}-{len(self.all) + 1}.log" if self.numbered
                              else f"{name}.log")

    def spawn(self, name: str, argv: list[str], *, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, pipes: bool = False) -> Child:
        """Start ``argv`` as child ``name`` (see :class:`Child`)."""
        return self.add(Child(name, argv, self.log_path(name), env=env, cwd=cwd, pipes=pipes))

    def add(self, child: C) -> C:
        """Count ``child`` (started elsewhere, at :meth:`log_path`) among ours."""
        self.all.append(child)
        return child

    def by_pid(self, pid: int) -> Child | None:
        return next((c for c in self.all if c.pid == pid), None)

    def exited(self, among: Iterable[Child] | None = None) -> Child | None:
        """The first child (of ``among``) that exited though nobody here ended it."""
        return next((c for c in (self.all if among is None else among)
                     if not c.alive and not c.stopped), None)

    def stop(self, children: Iterable[Child] | None = None, grace: float = 5.0) -> None:
        """End every child (or those given) at once: SIGTERM, then SIGKILL to whoever is
        still there after ``grace`` s."""
        chosen = list(self.all if children is None else children)
        for child in chosen:
            child.ask_to_end()
        deadline = time.monotonic() + grace
        for child in chosen:
            child.finish(deadline)


# ---------------------------------------------------------------- the parliament

class LocalParliament:
    """Gods and priests of ``parliament``, started as ``children`` (in ``cwd``), on the
    messengers at ``url``; ``redis`` is a client of them (None until there is one), and
    ``priests`` how many priests the god is to keep voting (its ``--priests``).

    Each child gets :meth:`env`: this process's environment without its PAXOS_* settings
    (with ``keep_settings``, without only those of :data:`OWN_SETTINGS`), the parliament's
    REDIS_URL, PAXOS_PARLIAMENT and PAXOS_LEDGER_DIR (``ledger_dir``), then ``env``.
    """

    def __init__(self, children: Children, parliament: str, url: str, ledger_dir: Path, *,
                 priests: int, redis: Any = None, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, keep_settings: bool = False) -> None:
        self.children, self.parliament, self.keys = children, parliament, Keys(parliament)
        self.url, self.ledger_dir, self.target = url, ledger_dir, priests
        self.redis, self.cwd = redis, cwd
        self.extra_env, self.keep_settings = dict(env or {}), keep_settings
        self.god: Child | None = None          # the god started last
        self.gods: list[Child] = []

    # ------------------------------------------------------------ starting

    def env(self) -> dict[str, str]:
        return {**inherited_env(self.keep_settings), "REDIS_URL": self.url,
                "PAXOS_PARLIAMENT": self.parliament, "PAXOS_LEDGER_DIR": str(self.ledger_dir),
                "PYTHONUNBUFFERED": "1", **self.extra_env}

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Child:
        """Start ``argv`` as child ``name`` with :meth:`env` (``env`` overrides it)."""
        return self.children.spawn(name, argv, env={**self.env(), **(env or {})}, cwd=self.cwd)

    def god_argv(self) -> list[str]:
        """The god program (a subclass may run another)."""
        return [*cli_argv(), "god"]

    def priest_argv(self) -> list[str]:
        """The priest program (a subclass may run another)."""
        return [*cli_argv(), "priest"]

    def spawn_god(self, priests: int | None = None, *, remove_after: float | None = None,
                  name: str = "god") -> Child:
        """A god wanting ``priests`` voters (default :attr:`target`); it is :attr:`god` now."""
        argv = [*self.god_argv(), "--priests", str(priests or self.target)]
        if remove_after is not None:
            argv += ["--remove-after", f"{remove_after:g}"]
        self.god = self.spawn(name, argv)
        self.gods.append(self.god)
        return self.god

    def spawn_priest(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Child:
        """A priest process (``args`` after :meth:`priest_argv`)."""
        return self.spawn(name, [*self.priest_argv(), *args], env)

    # ------------------------------------------------------------ the roster

    def beats(self) -> dict[int, Beat]:
        """Every priest with a live heartbeat, by identity."""
        return read_roster(self.redis, self.keys)

    def live_beats(self) -> dict[int, Beat]:
        """The beats of our processes still running, by identity (a dead priest's last beat
        lingers until it lapses: it is not among them)."""
        pids = {c.pid for c in self.children.all if c.alive}
        return {p: b for p, b in self.beats().items() if b.pid in pids and b.host == HOST}

    def beat_of(self, child: Child) -> Beat | None:
        """``child``'s beat, once it beats (it says which priest the process acts as)."""
        return next((b for b in self.beats().values()
                     if b.pid == child.pid and b.host == HOST), None)

    def presiding(self, exclude_pid: int | None = None) -> Beat | None:
        """The beat of our running priest that presides (not process ``exclude_pid``)."""
        return president_of({p: b for p, b in self.live_beats().items() if b.pid != exclude_pid})

    def founded(self, priests: int | None = None) -> Beat | None:
        """The president, once ``priests`` (default :attr:`target`) running priests of ours
        vote, in one founding that names them all, and one of them presides; else None."""
        beats = self.live_beats()
        president = president_of(beats)
        if len(beats) == (priests or self.target) and president is not None \
                and all(b.role == "voter" for b in beats.values()) \
                and set(president.members) == set(beats):
            return president
        return None
