"""A priest's identity: the ledger it holds, and one process acting as it at a time.

A priest *is* its ledger.  The ledger's first record names the priest by a random
identity drawn when the ledger is made, so priests in different ledger directories
or on different hosts are different priests; whether one votes is law (a member of
the membership), never a local file name.  A lost or replaced ledger is a new
priest: it starts with a new identity, and the god admits it by decree.

Two processes never act as one priest:

* on one host, the ledger's ``flock`` (:mod:`paxos_redis.storage.ledger`);
* across hosts (a copied ledger), a claim in Redis: ``claim(priest)`` holds
  ``host pid nonce`` with a short TTL, renewed with every heartbeat.  A second process
  finds the claim held and refuses to start, naming the holder; a process that finds
  its own claim taken over (both running, say after Redis was wiped) stops.

A ledger restored from an old copy has forgotten promises and votes its priest made since
(amnesia): quorums then no longer share a priest that remembers.  Every priest shows its
*stamp* (how many promises, votes and ballots tried it wrote) in each heartbeat, and Redis
keeps the highest (``stamps``, ``ZADD GT``).  A priest whose ledger holds a lower stamp
than its identity showed refuses to start (:func:`check_stamp`).

The claim and the stamps guard against operators' mistakes; they are not the protocol's
safety, and they need Redis to remember (a Redis restarted empty forgets them): see
README's "Identities".
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from paxos_redis.errors import IdentityTaken, LedgerForgot
from paxos_redis.protocol.membership import IDENTITY_BITS, name, parse_name
from paxos_redis.protocol.records import Identity
from paxos_redis.runtime.settings import Settings
from paxos_redis.storage.ledger import CorruptLedger, FileLedger, LedgerError, LedgerLocked

log = logging.getLogger("paxos_redis.runtime.identity")

#: how long a claim outlives its holder's last renewal (ms)
CLAIM_TTL_MS = 3000


def check_stamp(redis: Any, key: str, priest: Any, path: Path) -> None:
    """Refuse a ledger whose stamp is below the highest its identity showed (Redis's
    memory of it, :meth:`~paxos_redis.protocol.Priest.forgot`)."""
    shown = redis.zscore(key, name(priest.id))
    if shown is not None and priest.forgot(int(shown)):
        raise LedgerForgot(
            f"ledger {path} is older than the ledger priest {name(priest.id)} last ran with: "
            f"it holds {priest.stamp} promises, votes and ballots, and the priest had shown "
            f"{int(shown)}. It was restored from an old copy, and has forgotten promises and "
            "votes: it must never vote again as this priest. Move it away and start without "
            "it to join as a new priest (the god removes the old identity)")


def _ledgers(settings: Settings) -> list[Path]:
    return sorted(settings.ledger_dir.glob(f"{settings.parliament}-*.ledger"))


def _priest_of(path: Path, parliament: str) -> int | None:
    text = path.name[len(parliament) + 1 : -len(".ledger")]
    try:
        return parse_name(text)
    except ValueError:
        return None


def open_ledger(settings: Settings) -> FileLedger:
    """The ledger this process runs as: ``settings.identity``'s, else the first in
    ``ledger_dir`` no other process holds, else a new one (a new priest)."""
    settings.ledger_dir.mkdir(parents=True, exist_ok=True)
    seated = sorted(settings.ledger_dir.glob(f"{settings.parliament}-seat-*.ledger"))
    if seated:
        raise LedgerError(
            f"{seated[0]} was written by a paxos-redis from before priests had identities "
            "(its seat could be taken by two processes at once). It cannot vote in this "
            "version: move it out of the ledger directory and found a new parliament")
    if settings.identity is not None:
        path = settings.ledger_path(parse_name(settings.identity))
        if not path.exists():
            raise LedgerError(f"--identity {settings.identity}: no ledger {path}. A priest is "
                              "its ledger: without it, start with no --identity to join as a "
                              "new priest")
        return FileLedger.open(path)
    for path in _ledgers(settings):
        if _priest_of(path, settings.parliament) is None:
            continue
        try:
            return FileLedger.open(path)
        except LedgerLocked:
            continue
        except CorruptLedger:
            raise
    while True:
        priest = secrets.randbits(IDENTITY_BITS)
        path = settings.ledger_path(priest)
        if priest and not path.exists():
            log.info("no free ledger in %s: this is a new priest, %s", settings.ledger_dir,
                     name(priest))
            try:
                return FileLedger.open(path, create=Identity(settings.parliament, priest))
            except LedgerLocked:
                # a process starting beside us found the new ledger free between its
                # creation and our lock, and took it (it is that priest now): make another
                log.info("priest %s was taken by another process starting here; another new "
                         "priest", name(priest))


class Claim:
    """This process's claim to act as ``priest`` (see the module's docstring)."""

    def __init__(self, redis: Any, key: str, priest: int, ledger: Path) -> None:
        self.redis, self.key, self.priest, self.ledger = redis, key, priest, ledger
        self.host = socket.gethostname()
        self.value = f"{self.host} {os.getpid()} {secrets.token_hex(8)}"

    def take(self, *, wait_s: float = CLAIM_TTL_MS / 1000 + 0.5) -> None:
        """Claim the identity, waiting out a claim a dead process left (its TTL); raise
        :class:`IdentityTaken` naming the holder if it is renewed meanwhile."""
        deadline = time.monotonic() + wait_s
        while True:
            if self.redis.set(self.key, self.value, nx=True, px=CLAIM_TTL_MS):
                return
            holder = self.redis.get(self.key)
            if holder is None:
                continue
            text = holder.decode(errors="replace") if isinstance(holder, bytes) else str(holder)
            if self._stale_here(text):
                self.redis.set(self.key, self.value, px=CLAIM_TTL_MS)
                return
            if time.monotonic() >= deadline:
                raise IdentityTaken(self.refusal(text))
            time.sleep(0.1)

    def _stale_here(self, holder: str) -> bool:
        """A claim of this host by a process that is gone (we hold the ledger's lock, so
        no live process here acts as this priest)."""
        host, _, rest = holder.partition(" ")
        pid = rest.partition(" ")[0]
        if host != self.host or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return int(pid) == os.getpid()

    def refusal(self, holder: str) -> str:
        host, _, rest = holder.partition(" ")
        pid = rest.partition(" ")[0]
        return (f"priest {name(self.priest)} is already running: host {host} pid {pid} acts as "
                f"it (its claim in Redis is renewed). Two processes may never act as one "
                f"priest: stop that one first; or, if {self.ledger} is a copy of its ledger, "
                "remove the copy and start without it to join as a new priest")

    def renewal(self) -> tuple[Any, ...]:
        """The command that renews the claim (its reply: the value it replaced)."""
        return ("SET", self.key, self.value, "PX", CLAIM_TTL_MS, "GET")

    def check(self, replaced: Any) -> str | None:
        """What :meth:`renewal` replaced: None if it was ours (or nothing, after Redis lost
        it), else why this process must stop."""
        if replaced is None:
            return None
        text = replaced.decode(errors="replace") if isinstance(replaced, bytes) else str(replaced)
        if text == self.value:
            return None
        return (f"priest {name(self.priest)}: another process claimed this identity "
                f"({text}) while this one ran: two processes act as one priest. This one "
                "stops; find the copy of its ledger and remove it")

    def release(self) -> None:
        """Give the claim up, if it is still ours."""
        if self.redis.get(self.key) in (self.value, self.value.encode()):
            self.redis.delete(self.key)
