"""The nemesis's parliament: priests on *hosts*, each host a ledger directory (and a network
namespace where there are links), as priests on machines of their own would run.

A host holds at most one priest process at a time.  Restarting a host's priest reopens
its ledger (the same identity); replacing it deletes the directory first (a new identity);
a host left vacant by a priest stopped for good keeps that ledger, and a new priest there
gets a new directory (``h<host>-<generation>``).  Priests run ``chaos_priest.py`` (the
production priest with fault hooks, switched per host by flag files).  A *twin* is a
production priest started on a copy of a running priest's ledger in a directory of its
own: it must refuse to start, since another process acts as that priest.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from netns import Links

from paxos_redis.protocol.membership import name
from tests.processes import REPO, Parliament, Process, wait_for
from tests.redis_server import RedisServer

HERE = Path(__file__).resolve().parent
#: what a twin's one line of refusal says (paxos_redis.runtime.identity.Claim.refusal)
REFUSAL = "is already running"


class FaultyParliament(Parliament):
    """Gods with ``--remove-after``, chaos priests on hosts; see the module doc."""

    def __init__(self, server: RedisServer, root: Path, links: Links | None, seed: int, *,
                 priests: int, hosts: int, remove_after: float) -> None:
        self.chaos = root / "chaos"
        self.chaos.mkdir(parents=True, exist_ok=True)
        super().__init__(server.url, root, priests=priests, name="nemesis",
                         env={"PAXOS_CHAOS_DIR": str(self.chaos), "PAXOS_CHAOS_SEED": str(seed)})
        self.server, self.links, self.remove_after = server, links, remove_after
        self.on_host: dict[int, Process | None] = dict.fromkeys(range(hosts))
        self.host_dir: dict[int, Path] = {}
        self.generation = dict.fromkeys(range(hosts), 0)
        self.twins = 0

    # ------------------------------------------------------------ gods

    def spawn_nemesis_god(self) -> Process:
        return self.spawn_god(self.target, remove_after=self.remove_after)

    def start_gods(self, count: int) -> None:
        """``count`` gods at once (they share the work through a short election lock)."""
        for _ in range(count):
            self.spawn_nemesis_god()
        wait_for(self._provisioned, 15, "a god to provision the parliament",
                 explain=self.explain)

    # ------------------------------------------------------------ hosts

    def fresh_dir(self, host: int) -> Path:
        """A new, empty ledger directory for ``host`` (its next generation)."""
        self.generation[host] += 1
        self.host_dir[host] = path = self.ledger_root / f"h{host}-{self.generation[host]}"
        return path

    def start_on(self, host: int, *, fresh: bool = False) -> Process:
        """The host's priest: from its ledger directory (a new one with ``fresh``)."""
        current = self.on_host[host]
        assert current is None or not current.alive, f"host {host} runs pid {current.pid}"
        directory = self.fresh_dir(host) if fresh or host not in self.host_dir \
            else self.host_dir[host]
        directory.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, str(HERE / "chaos_priest.py")]
        env = {"PAXOS_CHAOS_HOST": str(host), "PAXOS_LEDGER_DIR": str(directory)}
        if self.links is not None:
            argv = self.links.wrap(host, argv)
            env["REDIS_URL"] = f"redis://{self.links.redis_host(host)}:{self.server.port}/0"
        process = self.spawn(f"priest-h{host}", argv, env)
        self.adopt(process, directory)
        self.on_host[host] = process
        return process

    def vacate(self, host: int) -> Process | None:
        """The host holds no priest any more (its process is stopped for good)."""
        process, self.on_host[host] = self.on_host[host], None
        return process

    def wipe(self, host: int) -> None:
        """Delete the host's ledger directory (its priest, if any, must be dead)."""
        shutil.rmtree(self.host_dir[host], ignore_errors=True)

    def host_of(self, priest: int) -> int | None:
        """The host whose live process acts as ``priest``."""
        for host, process in self.on_host.items():
            if process is not None and process.priest == priest and process.alive:
                return host
        return None

    def running(self) -> dict[int, Process]:
        return {h: p for h, p in self.on_host.items() if p is not None}

    def flag(self, host: int, fault: str, on: bool) -> None:
        path = self.chaos / f"host{host}.{fault}"
        if on:
            path.touch()
        else:
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------ twins

    def start_twin(self, host: int) -> Process | None:
        """A production priest on a copy of ``host``'s ledger (and its archive) in a new
        directory, reaching Redis directly; None if the ledger could not be copied."""
        source = self.host_dir[host]
        self.twins += 1
        directory = self.ledger_root / f"twin-{self.twins}"
        directory.mkdir(parents=True)
        try:
            for path in source.iterdir():
                if path.name.endswith((".ledger", ".ledger.law")):
                    shutil.copy2(path, directory / path.name)
        except OSError:                   # a compaction renamed a file under us
            shutil.rmtree(directory, ignore_errors=True)
            return None
        if not any(directory.glob("*.ledger")):
            shutil.rmtree(directory, ignore_errors=True)
            return None
        return self.spawn(f"twin-of-h{host}", [sys.executable, str(REPO / "workers" / "priest.py")],
                          {"PAXOS_LEDGER_DIR": str(directory), "REDIS_URL": self.server.url})

    def twin_verdict(self, twin: Process, priest: int | None) -> str | None:
        """None if the (exited) twin refused to start as it must, else what went wrong."""
        log = twin.log.read_text(errors="replace")
        if twin.poll() == 1 and REFUSAL in log and (priest is None or name(priest) in log):
            return None
        return (f"a twin of priest {name(priest) if priest else '?'} (a copy of its ledger) "
                f"did not refuse to start: rc {twin.poll()}\n{twin.tail(8)}")
