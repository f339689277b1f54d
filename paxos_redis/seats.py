"""Claiming a seat: a priest's identity is the ledger it holds the lock on."""

from __future__ import annotations

import logging
import time
from typing import Any

from .ledger import FileLedger, LedgerError, LedgerLocked
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
        try:
            return FileLedger.open(settings.ledger_path(seat),
                                   create=Seat(settings.parliament, seat, seats))
        except LedgerLocked:
            if settings.seat is not None:
                raise
            continue
    raise NoFreeSeat(
        f"no free seat in {settings.ledger_dir}: all {seats} ledgers of parliament "
        f"{settings.parliament!r} are locked by running priests; stop one or raise --priests")
