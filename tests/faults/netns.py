"""Network links the nemesis can cut: one network namespace per priest (root only).

Each of the nemesis's hosts (a slot a priest runs on; a priest that is replaced or stopped
leaves it to the next) gets a namespace ``pxr<run>s<host>`` joined to the machine by a veth
pair: the machine's end holds ``10.<a>.<host>.1/30`` (redis-server also binds there), the
priest's end ``10.<a>.<host>.2``.  :meth:`Links.cut` sets the host end down, so the priest's TCP
connections to Redis stall and its new ones fail, exactly as a pulled cable would;
:meth:`Links.heal` sets it up again.  Everything is created here and deleted by
:meth:`Links.close`; no address outside the namespaces this module made is ever used.

:func:`available` says whether the machine allows it (root, ``ip netns``); when it does
not, the nemesis falls back to an in-process link fault (see ``chaos_priest.py``).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess


def _ip(*args: str, ns: str | None = None) -> None:
    argv = ["ip", *(("netns", "exec", ns, "ip") if ns else ()), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise OSError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = f"pxprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except OSError as exc:
        return str(exc)
    with contextlib.suppress(OSError):
        _ip("netns", "del", probe)
    return None


class Links:
    """One namespace and veth pair per host; see the module doc."""

    def __init__(self, hosts: int, rng: random.Random) -> None:
        self.run = f"{os.getpid() % 10000:04d}{rng.randrange(100):02d}"
        self.net = 64 + rng.randrange(64)           # 10.<net>.<host>.0/30
        self.count = hosts
        self.made_ns: list[str] = []
        self.made_links: list[str] = []
        self.down: set[int] = set()
        try:
            for host in range(hosts):
                self._make(host)
        except BaseException:
            self.close()
            raise

    def namespace(self, host: int) -> str:
        return f"pxr{self.run}s{host}"

    def host_end(self, host: int) -> str:
        return f"pxh{self.run}s{host}"            # at most 15 characters

    def redis_host(self, host: int) -> str:
        """The address the priest on ``host`` reaches Redis at."""
        return f"10.{self.net}.{host}.1"

    def hosts(self) -> list[str]:
        """Every address redis-server must bind (one per host)."""
        return [self.redis_host(host) for host in range(self.count)]

    def _make(self, k: int) -> None:
        ns, host, peer = self.namespace(k), self.host_end(k), f"pxp{self.run}s{k}"
        _ip("netns", "add", ns)
        self.made_ns.append(ns)
        _ip("link", "add", host, "type", "veth", "peer", "name", peer)
        self.made_links.append(host)
        _ip("link", "set", peer, "netns", ns)
        _ip("addr", "add", f"{self.redis_host(k)}/30", "dev", host)
        _ip("link", "set", host, "up")
        _ip("addr", "add", f"10.{self.net}.{k}.2/30", "dev", peer, ns=ns)
        _ip("link", "set", peer, "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)

    def wrap(self, host: int, argv: list[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace (``ip netns exec`` execs: same pid)."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def cut(self, host: int) -> None:
        _ip("link", "set", self.host_end(host), "down")
        self.down.add(host)

    def heal(self, host: int) -> None:
        _ip("link", "set", self.host_end(host), "up")
        self.down.discard(host)

    def close(self) -> None:
        for host in self.made_links:
            with contextlib.suppress(OSError):
                _ip("link", "del", host)            # deletes the peer too
        for ns in self.made_ns:
            with contextlib.suppress(OSError):
                _ip("netns", "del", ns)
        self.made_links.clear()
        self.made_ns.clear()
