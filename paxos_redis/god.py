"""God: provisions the parliament and starts a ballot when no president acts.

Several gods may run at once: provisioning is idempotent, and a short lock in
Redis lets one god at a time ask a priest to start a ballot (two asking at
once is harmless anyway: ballots are unique, B1).  A god never decides a
decree.  Membership is law kept in the priests' ledgers: a god whose seat count
contradicts what live priests report from their ledgers stops with an error.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .citizens import START_BALLOT
from .connection import redact
from .keys import PRIEST_GROUP
from .settings import Settings
from .wire import Wire

log = logging.getLogger("paxos_redis.god")


class MembershipConflict(RuntimeError):
    """The god's seat count contradicts the ledgers (or another god's provisioning)."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class God:
    """Provisions seats and streams, watches heartbeats, calls for ballots."""

    def __init__(self, settings: Settings, redis: Any, *, poll_ms: int = 50,
                 election_ms: int = 600) -> None:
        if settings.priests is None:
            raise ValueError("god needs the number of seats: --priests N or PAXOS_PRIESTS")
        self.settings = settings
        self.redis = redis
        self.keys = settings.keys
        self.seats = settings.priests
        self.poll_s = poll_ms / 1000
        self.election_ms = election_ms
        self.stopping = threading.Event()
        self.elections = 0
        self.wire = Wire(settings.parliament, settings.secret)

    def provision(self) -> None:
        """Seats, streams and groups; idempotent, and safe to repeat after Redis lost them.

        The live priests' ledgers are checked first, so a god with the wrong seat count
        never writes it into a Redis that forgot the right one.
        """
        self.check_membership(self.heartbeats())
        config = self.keys.config()
        self.redis.hsetnx(config, "seats", self.seats)
        self.redis.hsetnx(config, "parliament", self.settings.parliament)
        recorded = int(self.redis.hget(config, "seats"))
        if recorded != self.seats:
            raise MembershipConflict(
                f"parliament {self.settings.parliament!r} is provisioned with {recorded} seats "
                f"in Redis, this god was started with --priests {self.seats}; the ledgers "
                "decide membership, so start every god with the same count")
        for stream in [self.keys.inbox(s) for s in range(self.seats)] + [self.keys.petitions()]:
            try:
                self.redis.xgroup_create(stream, PRIEST_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def heartbeats(self) -> dict[int, dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for seat in range(self.seats):
            pipe.hgetall(self.keys.heartbeat(seat))
        out = {}
        for seat, raw in enumerate(pipe.execute()):
            if raw:
                out[seat] = {_text(k): _text(v) for k, v in raw.items()}
        return out

    def check_membership(self, alive: dict[int, dict[str, str]]) -> None:
        """Membership is law in the ledgers: refuse a seat count the live priests contradict."""
        for seat, beat in alive.items():
            if int(beat.get("seats", self.seats)) != self.seats:
                raise MembershipConflict(
                    f"priest {seat}'s ledger says the parliament has {beat['seats']} seats; "
                    f"this god was started with --priests {self.seats}. The ledgers decide: "
                    f"restart the god with --priests {beat['seats']}")

    def watch_once(self) -> int | None:
        """One look: re-provision if Redis forgot us; call a ballot if nobody presides.

        Returns the seat asked to start a ballot, if any.
        """
        alive = self.heartbeats()
        self.check_membership(alive)
        if not self.redis.exists(self.keys.config()):
            log.warning("god: parliament %r is not provisioned in Redis (a restart?); "
                        "provisioning again", self.settings.parliament)
            self.provision()
        if not alive or any(b.get("president") == "1" for b in alive.values()):
            return None
        # the priest that knows the most law makes the quickest president
        seat = max(alive, key=lambda s: (int(alive[s].get("known", 0)), -s))
        if not self.redis.set(self.keys.election(), seat, nx=True, px=self.election_ms):
            return None
        self.redis.xadd(self.keys.inbox(seat), self.wire.seal_fields(START_BALLOT),
                        maxlen=self.settings.maxlen,
                        approximate=True)
        self.elections += 1
        log.info("god: no president acts; asked priest %d to start a ballot", seat)
        return seat

    def run(self) -> None:
        outage: float | None = None
        while not self.stopping.is_set():
            try:
                self.watch_once()
                if outage is not None:
                    log.info("god: Redis is back after %.1f s", time.monotonic() - outage)
                    outage = None
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if outage is None:
                    outage = time.monotonic()
                    log.warning("god: Redis at %s unreachable (%s); retrying",
                                redact(self.settings.redis_url), exc)
            self.stopping.wait(self.poll_s)

    def stop(self) -> None:
        self.stopping.set()
