"""Claiming a seat: a priest's identity is the ledger it holds the lock on."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .ledger import CorruptLedger, FileLedger, LedgerError, LedgerLocked, replay
from .protocol.records import Seat
from .settings import Settings

log = logging.getLogger("paxos_redis.seats")


class NoFreeSeat(LedgerError):
    """Every seat's ledger is locked by another priest process."""


def seats_in_force(settings: Settings, redis: Any, *, wait_s: float = 0.0) -> int:
    """How many seats the parliament has: ``--priests``, else god's provisioning in Redis."""
    if settings.priests is not None:
        return settings.priests
    deadline = time.monotonic() + wait_s
    while True:
        raw = redis.hget(settings.keys.config(), "seats")
        if raw is not None:
            return int(raw)
        if time.monotonic() >= deadline:
            raise LedgerError(
                f"parliament {settings.parliament!r} has no seat count: start a god first "
                "(paxos-redis god --priests N) or give the priest --priests N / PAXOS_PRIESTS")
        time.sleep(0.2)


def _not_ours(path: Path, want: Seat) -> LedgerError | None:
    """A clear error if the ledger at ``path`` holds another seat (read-only look), else None."""
    try:
        found = replay(path, path.read_bytes(), archived=False)[0][0]
    except (OSError, LedgerError):
        return None
    if not isinstance(found, Seat) or found == want:
        return None
    return LedgerError(
        f"ledger {path} is not this priest's: it holds seat {found.priest} of parliament "
        f"{found.parliament!r} ({found.seats} seats), but this is seat {want.priest} of "
        f"parliament {want.parliament!r} ({want.seats} seats). A ledger is its priest's "
        "identity and is never reused: move that file back where it belongs (or away), or "
        "use another --ledger-dir or --parliament")


def claim(settings: Settings, seats: int) -> FileLedger:
    """Open the ledger of ``settings.seat``, or of the first seat whose ledger we can lock.

    Identical replicas started without ``--seat`` each find their own seat, and
    keep it across restarts: the ledger file (and its lock) is the identity.
    """
    settings.ledger_dir.mkdir(parents=True, exist_ok=True)
    candidates = [settings.seat] if settings.seat is not None else list(range(seats))
    for seat in candidates:
        if seat >= seats:
            raise LedgerError(f"--seat {seat} is outside a parliament of {seats} seats "
                              f"(seats are 0..{seats - 1})")
        want = Seat(settings.parliament, seat, seats)
        try:
            return FileLedger.open(settings.ledger_path(seat), create=want)
        except LedgerLocked:
            if settings.seat is not None:
                raise
            continue
        except CorruptLedger:
            raise
        except LedgerError as exc:
            raise _not_ours(settings.ledger_path(seat), want) or exc from None
    raise NoFreeSeat(
        f"no free seat in {settings.ledger_dir}: all {seats} ledgers of parliament "
        f"{settings.parliament!r} are locked by running priests; stop one or raise --priests")
