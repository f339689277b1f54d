"""God: founds the parliament, starts a ballot when no president acts, keeps the target
number of voters by asking for changes of membership.

Several gods may run at once: founding goes through one ``HSETNX`` (the first god's
founding wins, and every god relays that one), a short lock in Redis lets one god at a
time ask a priest to start a ballot (two asking at once is harmless anyway: ballots are
unique, B1), and a change of membership is a petition the law accepts or voids.  A god
never decides a decree, nor who votes: it proposes, the law disposes.

Founding.  A priest with a new ledger starts *unfounded* and beats in the roster.  When
no priest anywhere knows a founding (none beats with a genesis, and Redis holds none), a
god founds the parliament with up to ``--priests`` of them: it waits until that many are
up, or ``found_after_s`` after the first, and writes decree 0 (a new genesis, ``alpha``
and those priests) into Redis with ``HSETNX``; then it sends that decree to each founder,
which enters it as law.  Priests that were not founders learn decree 0 from the others
like any law, as listeners.  Once founded, the founding lives in the ledgers: a god that
finds Redis without it (a Redis restarted empty) writes back the genesis the priests' beats
show and never founds again while they run (new priests learn decree 0 from them).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from paxos_redis.messengers.citizens import START_BALLOT, change_fields, found_fields
from paxos_redis.messengers.connection import redact
from paxos_redis.messengers.heartbeat import Beat, forget_silent, president_of, read_roster
from paxos_redis.messengers.keys import PRIEST_GROUP
from paxos_redis.messengers.wire import Wire
from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.membership import ALPHA, Change, Founding, name
from paxos_redis.protocol.policy import View, plan
from paxos_redis.runtime.settings import Settings

log = logging.getLogger("paxos_redis.runtime.god")

#: a listener this close to the president's law is ready to be admitted
READY_LAG = 1000
#: a change asked for and not seen taking effect is asked again after this long (s)
ASK_AGAIN_S = 10.0


class God:
    """Founds, watches heartbeats, calls for ballots, asks for changes of membership."""

    def __init__(self, settings: Settings, redis: Any, *, poll_ms: int = 50,
                 election_ms: int = 600, found_after_s: float = 5.0,
                 remove_after_s: float = 30.0, change_every_s: float = 1.0,
                 alpha: int = ALPHA, stopping: threading.Event | None = None) -> None:
        if settings.priests is None:
            raise ValueError("god needs the number of voting priests: --priests N or "
                             "PAXOS_PRIESTS")
        self.settings = settings
        self.redis = redis
        self.keys = settings.keys
        self.target = settings.priests
        self.poll_s = poll_ms / 1000
        self.election_ms = election_ms
        self.found_after_s = found_after_s
        self.remove_after_s = remove_after_s
        self.change_every_s = change_every_s
        self.alpha = alpha
        self.stopping = stopping or threading.Event()
        self.elections = 0
        self.changes = 0
        self.wire = Wire(settings.parliament, settings.secret)
        self.first_newcomer: float | None = None
        self.last_seen: dict[int, float] = {}
        self.last_found_sent = 0.0
        self.last_change = 0.0
        self.asked: dict[Change, float] = {}      # the change last asked for, and when

    # ------------------------------------------------------------ founding

    def provision(self) -> None:
        """The petitions stream and its group; idempotent."""
        try:
            self.redis.xgroup_create(self.keys.petitions(), PRIEST_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def founding(self) -> Founding | None:
        raw = self.redis.hget(self.keys.config(), "founding")
        if raw is None:
            return None
        return Founding.parse(Decree.decode(raw if isinstance(raw, bytes) else raw.encode()))

    def found(self, beats: dict[int, Beat]) -> Founding | None:
        """Found the parliament if nobody knows a founding and enough newcomers are up;
        send the founding to founders that do not know it yet.  Returns the founding."""
        founding = self.founding()
        known = {b.genesis for b in beats.values() if b.genesis}
        if founding is None and known:
            if self.redis.hsetnx(self.keys.config(), "genesis", sorted(known)[0]):
                log.warning("god: Redis holds no founding but priests of genesis %s run (a "
                            "Redis restarted empty?): their ledgers decide; not founding again "
                            "(new priests learn decree 0 from them)", ", ".join(sorted(known)))
            return None
        if founding is None:
            newcomers = sorted(b.priest for b in beats.values() if b.role == "unfounded")
            if not newcomers:
                self.first_newcomer = None
                return None
            now = time.monotonic()
            self.first_newcomer = self.first_newcomer or now
            if len(newcomers) < self.target and now - self.first_newcomer < self.found_after_s:
                return None
            candidate = Founding(secrets.token_hex(8), self.alpha,
                                 tuple(newcomers[: self.target]))
            if self.redis.hsetnx(self.keys.config(), "founding",
                                 candidate.decree().encode()):
                self.redis.hset(self.keys.config(), "genesis", candidate.genesis)
                log.info("god: founded parliament %r (genesis %s) with %d priests: %s",
                         self.settings.parliament, candidate.genesis, len(candidate.members),
                         " ".join(name(m) for m in candidate.members))
            founding = self.founding()
            if founding is None:
                return None
        waiting = [p for p in founding.members if p in beats and not beats[p].genesis]
        if waiting and time.monotonic() - self.last_found_sent > 0.5:
            self.last_found_sent = time.monotonic()
            for priest in waiting:
                self._tell(priest, found_fields(founding))
        return founding

    # ------------------------------------------------------------ watching

    def watch_once(self) -> int | None:
        """One look: found if needed, call a ballot if nobody presides, ask for a change of
        membership toward the target.  Returns the priest asked to start a ballot, if any."""
        beats = read_roster(self.redis, self.keys)
        now = time.monotonic()
        for priest in beats:
            self.last_seen[priest] = now
        self.found(beats)
        president = president_of(beats)
        if president is not None:
            self.steward(president, beats, now)
            return None
        voters = [b for b in beats.values() if b.role == "voter"]
        if not voters:
            return None
        # the voter that knows the most law makes the quickest president
        chosen = max(voters, key=lambda b: (b.known, -b.priest))
        if not self.redis.set(self.keys.election(), chosen.name, nx=True, px=self.election_ms):
            return None
        self._tell(chosen.priest, START_BALLOT)
        self.elections += 1
        log.info("god: no president acts; asked priest %s to start a ballot", chosen.name)
        return chosen.priest

    def steward(self, president: Beat, beats: dict[int, Beat], now: float) -> None:
        """Ask the president for the next change toward the target, one at a time, and only
        once the last one took effect."""
        if president.known < president.pending_until or now - self.last_change < self.change_every_s:
            return
        members = frozenset(president.members)
        ready = tuple(sorted((b.priest for b in beats.values()
                              if b.role == "listener" and b.genesis == president.genesis
                              and b.known >= president.known - READY_LAG),
                             key=lambda p: (-beats[p].known, p)))
        gone = frozenset(m for m in members if m not in beats
                         and now - self.last_seen.setdefault(m, now) >= self.remove_after_s)
        change = plan(View(members, frozenset(beats), ready, gone, president.priest),
                      self.target)
        if change is None or now - self.asked.get(change, -1e9) < ASK_AGAIN_S:
            return
        self.asked = {change: now}
        self.last_change = now
        self.changes += 1
        log.info("god: asking president %s to %s priest %s (%d members, target %d)",
                 president.name, change.op, name(change.priest), len(members), self.target)
        self._tell(president.priest, change_fields(change, secrets.token_hex(8)))

    def _tell(self, priest: int, fields: dict[bytes, bytes]) -> None:
        self.redis.xadd(self.keys.inbox(priest), self.wire.seal_fields(fields),
                        maxlen=self.settings.maxlen, approximate=True)

    def run(self) -> None:
        outage: float | None = None
        next_forget = 0.0
        while not self.stopping.is_set():
            try:
                self.watch_once()
                if time.monotonic() >= next_forget:
                    next_forget = time.monotonic() + 60
                    forget_silent(self.redis, self.keys, int(time.time() * 1000))
                    self.provision()
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
