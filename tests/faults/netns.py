"""Network links the nemesis can cut: one network namespace per priest (root only).

Each seat gets a namespace ``pxr<run>s<seat>`` joined to the host by a veth pair: the host
end holds ``10.<a>.<seat>.1/30`` (redis-server also binds there), the priest's end
``10.<a>.<seat>.2``.  :meth:`Links.cut` sets the host end down, so the priest's TCP
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
    """One namespace and veth pair per seat; see the module doc."""

    def __init__(self, seats: int, rng: random.Random) -> None:
        self.run = f"{os.getpid() % 10000:04d}{rng.randrange(100):02d}"
        self.net = 64 + rng.randrange(64)           # 10.<net>.<seat>.0/30
        self.seats = seats
        self.made_ns: list[str] = []
        self.made_links: list[str] = []
        self.down: set[int] = set()
        try:
            for seat in range(seats):
                self._make(seat)
        except BaseException:
            self.close()
            raise

    def namespace(self, seat: int) -> str:
        return f"pxr{self.run}s{seat}"

    def host_end(self, seat: int) -> str:
        return f"pxh{self.run}s{seat}"            # at most 15 characters

    def redis_host(self, seat: int) -> str:
        """The address the priest in ``seat`` reaches Redis at."""
        return f"10.{self.net}.{seat}.1"

    def hosts(self) -> list[str]:
        return [self.redis_host(seat) for seat in range(self.seats)]

    def _make(self, seat: int) -> None:
        ns, host, peer = self.namespace(seat), self.host_end(seat), f"pxp{self.run}s{seat}"
        _ip("netns", "add", ns)
        self.made_ns.append(ns)
        _ip("link", "add", host, "type", "veth", "peer", "name", peer)
        self.made_links.append(host)
        _ip("link", "set", peer, "netns", ns)
        _ip("addr", "add", f"{self.redis_host(seat)}/30", "dev", host)
        _ip("link", "set", host, "up")
        _ip("addr", "add", f"10.{self.net}.{seat}.2/30", "dev", peer, ns=ns)
        _ip("link", "set", peer, "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)

    def wrap(self, seat: int, argv: list[str]) -> list[str]:
        """``argv`` run inside ``seat``'s namespace (``ip netns exec`` execs: same pid)."""
        return ["ip", "netns", "exec", self.namespace(seat), *argv]

    def cut(self, seat: int) -> None:
        _ip("link", "set", self.host_end(seat), "down")
        self.down.add(seat)

    def heal(self, seat: int) -> None:
        _ip("link", "set", self.host_end(seat), "up")
        self.down.discard(seat)

    def close(self) -> None:
        for host in self.made_links:
            with contextlib.suppress(OSError):
                _ip("link", "del", host)            # deletes the peer too
        for ns in self.made_ns:
            with contextlib.suppress(OSError):
                _ip("netns", "del", ns)
        self.made_links.clear()
        self.made_ns.clear()
