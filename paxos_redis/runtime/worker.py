"""The priest's loop: read a batch, step the core, persist, send, ack, heartbeat.

One process per priest.  Each batch's ledger records are made durable with one
fsync (group commit) before any message that depends on them leaves; entries
are acknowledged only after that.  The one kind of record nothing depends on, a
note of decrees passed, rides on the next fsync instead (within a heartbeat).
SIGTERM finishes the batch, syncs and exits 0; kill -9 loses nothing that was
acknowledged but such notes, which the priest learns again from the others.
Between batches it compacts the ledger once enough law was applied
(:mod:`paxos_redis.protocol.compaction`), so the ledger, the law in memory and a restart
stay bounded however long the law grows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from paxos_redis.errors import IdentityTaken, Refused
from paxos_redis.messengers.citizens import (
    GOD_CHANGE,
    GOD_FOUND,
    GOD_START,
    ROLE_CITIZEN,
    ROLE_GOD,
    LawAnswer,
    LawQuery,
    PetitionEntry,
    Reply,
    batch_replies,
    parse_change,
    parse_found,
    role_of,
)
from paxos_redis.messengers.connection import redact
from paxos_redis.messengers.heartbeat import Beat, beat_commands, read_roster
from paxos_redis.messengers.streams import Messenger
from paxos_redis.messengers.wire import Wire
from paxos_redis.protocol import Effects, MalformedMessage, Priest, ProtocolError
from paxos_redis.protocol.compaction import compact, due
from paxos_redis.protocol.decree import in_citizens_law
from paxos_redis.protocol.membership import name
from paxos_redis.protocol.records import Record
from paxos_redis.runtime.identity import Claim, check_stamp
from paxos_redis.runtime.read_size import ReadSize
from paxos_redis.runtime.reply_streams import ReplyStreams
from paxos_redis.runtime.settings import Settings, rules_changed
from paxos_redis.runtime.waiting import WaitingPetitions
from paxos_redis.storage.ledger import FileLedger, LedgerFailed

log = logging.getLogger("paxos_redis.runtime.worker")

LAW_CHUNK = 1000
RECLAIM_EVERY_S = 1.0
RECLAIM_IDLE_MS = 2000
#: a priest that is not a voter looks at the roster this often for law to fetch (s)
LISTEN_EVERY_S = 0.5
#: compact when the ledger is this large, even if little law was applied
COMPACT_BYTES = 64 << 20
#: ticks a priest that does not preside may sleep through when no message comes
LAZY_TICKS = 5


class Worker:
    """Runs one priest: its core, its file ledger and its messenger."""

    def __init__(self, settings: Settings, redis: Any, ledger: FileLedger,
                 *, consumer: str | None = None,
                 stopping: threading.Event | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.ledger = ledger
        self.keys = settings.keys
        self.priest = Priest.restore(ledger.records, settings.rules, archive=ledger.archive,
                                     max_decree_bytes=settings.max_decree_bytes)
        ledger.records = []                              # replayed: no need to keep them
        self.compact_every = max(1, settings.rules.law_memory // 2)
        if self.priest.parliament != settings.parliament:
            raise ProtocolError(
                f"ledger {ledger.path} belongs to parliament {self.priest.parliament!r}, "
                f"not {settings.parliament!r}: use another --ledger-dir or --parliament")
        self.id = self.priest.id
        self.name = name(self.id)
        consumer = consumer or f"{self.name}-{socket.gethostname()}-{os.getpid()}"
        self.messenger = Messenger(redis, self.keys, self.id, consumer, maxlen=settings.maxlen)
        self.claim = Claim(redis, self.keys.claim(self.id), self.id, ledger.path)
        self.stamp_shown = -1                          # the stamp last written to Redis
        self.next_listen = 0.0
        self.wire = Wire(settings.parliament, settings.secret)
        self.petitions = self.keys.petitions()
        self.waiting = WaitingPetitions()              # read, not answered yet
        self.reply_streams = ReplyStreams(self.keys)   # the citizens', and their TTLs
        self.stopping = stopping or threading.Event()   # set by SIGTERM even before run()
        self.tick_s = settings.tick_ms / 1000
        self.next_tick = time.monotonic()
        self.next_heartbeat = 0.0
        self.next_reclaim = 0.0
        self.refused = 0
        self.reads = ReadSize(settings.read_count)     # entries per read: fewer when large
        self.outage_since: float | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.claim.take()
        check_stamp(self.redis, self.keys.stamps(), self.priest, self.ledger.path)
        self.messenger.ensure()
        self.messenger.ensure_stream(self.petitions)
        pending = self.messenger.reclaim(0, 10_000)      # what our previous life left unacked
        if pending:
            self._process({self.messenger.inbox: pending})
        changed = rules_changed(self.settings.rules)
        log.info("priest %s of parliament %r is up as a %s (ledger %s, law known to %d%s)",
                 self.name, self.settings.parliament, self.priest.role, self.ledger.path,
                 self.priest.law.known, f"; rules changed: {changed}" if changed else "")

    def run(self) -> None:
        """Serve until stopped (SIGTERM/SIGINT in the main thread, or :meth:`stop`)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stopping.set())
        if not self.stopping.is_set():                  # stopped while it was starting
            self._retrying(self.start)
        while not self.stopping.is_set():
            self._retrying(self.step)
        self.close()

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        try:
            self.messenger.conduit.push()               # the last batch's sends and acks
            self.redis.delete(self.keys.heartbeat(self.id))
            self.claim.release()
        except (RedisConnectionError, RedisTimeoutError):
            pass
        if self.ledger.pending:
            with contextlib.suppress(LedgerFailed):
                self._sync()                            # the last notes; lost, they are relearned
        self.ledger.close()
        log.info("priest %s stood down", self.name)

    def _retrying(self, action: Any) -> None:
        """Redis unreachable: log one line per outage, back off, never lose a ledger record."""
        try:
            action()
            if self.outage_since is not None:
                log.info("priest %s: Redis is back after %.1f s", self.name,
                         time.monotonic() - self.outage_since)
                self.outage_since = None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if self.outage_since is None:
                self.outage_since = time.monotonic()
                log.warning("priest %s: Redis at %s unreachable (%s); retrying with backoff",
                            self.name, redact(self.settings.redis_url), exc)
            self.stopping.wait(min(1.0, 0.05 + (time.monotonic() - self.outage_since) / 4))

    # ------------------------------------------------------------ one batch

    def step(self) -> None:
        """Read one batch (or wait for the next tick), step the core, commit.

        A priest that does not preside has nothing to time but its hint of the president
        and its inquiries: it sleeps up to LAZY_TICKS ticks (or until its heartbeat) unless
        a message wakes it, then counts the ticks that went by."""
        now = time.monotonic()
        others = [self.petitions] if self._taking_petitions() else []
        wake = self.next_tick
        if self.priest.president is None:
            wake = min(wake + (LAZY_TICKS - 1) * self.tick_s, max(wake, self.next_heartbeat))
        block_ms = max(0, int((wake - now) * 1000))
        got = self.messenger.receive_with(others, self.reads.count, block_ms)
        self.reads.fit(got)
        self._process(got)

    def _taking_petitions(self) -> bool:
        """A president reads petitions unless more wait in its queue than its window takes
        (they wait in Redis meanwhile, not in its memory)."""
        president = self.priest.president
        return president is not None and president.active and not president.backlog

    def _process(self, got: dict[str, list[tuple[bytes, Any]]]) -> None:
        effects = Effects()
        acks: list[bytes] = []
        extra: list[Any] = []
        petition_acks: list[Any] = []
        for entry_id, fields in got.get(self.messenger.inbox, []):
            self._inbox_entry(entry_id, fields, effects, extra, acks)
        if got.get(self.petitions):
            self._petitions(got[self.petitions], effects, extra, petition_acks)
        now = time.monotonic()
        if now >= self.next_tick:
            ticks = 1
            if self.priest.president is None:          # a lazy sleeper: the ticks it slept
                ticks = min(LAZY_TICKS, 1 + int((now - self.next_tick) / self.tick_s))
            for _ in range(ticks):
                effects.extend(self.priest.tick())
            self.next_tick = max(self.next_tick + ticks * self.tick_s, now)
            if self._taking_petitions() and now >= self.next_reclaim:
                self.next_reclaim = now + RECLAIM_EVERY_S
                stale = self.messenger.reclaim(RECLAIM_IDLE_MS, 1000, stream=self.petitions)
                self.messenger.trim_answered(self.petitions)
                self._petitions(stale, effects, extra, petition_acks)
            self.waiting.forget(now, petition_acks)
        self._commit(effects, acks, extra, petition_acks)
        self._compact()
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + self.settings.heartbeat_ms / 1000
            if self.ledger.pending:
                self._sync()                            # notes of decrees passed, at the latest now
            self.heartbeat()

    def _commit(self, effects: Effects, acks: list[bytes], extra: list[Any],
                petition_acks: list[Any]) -> None:
        """Persist, then send, then ack: the order the protocol's safety rests on, with
        the exceptions :class:`~paxos_redis.protocol.Effects` allows: begin ballots
        leave while the fsync runs, and a step that only notes decrees passed sends
        at once.  Its notes ride on the next fsync (the next batch that has records,
        the next heartbeat, a compaction or a clean stop): a priest killed before that
        learns those decrees again from the others."""
        sealed: dict[int, dict[bytes, bytes]] = {}    # a broadcast is encoded once, not per seat

        def seal(messages: list[Any]) -> list[tuple[int, dict[bytes, bytes]]]:
            return [(dst, sealed[id(m)] if id(m) in sealed else
                     sealed.setdefault(id(m), self.wire.seal(m))) for dst, m in messages]

        self.waiting.vouch(effects.vouched)
        early, rest = effects.before_records()
        if effects.notes_only:
            self.ledger.append(effects.records)         # not yet durable, and need not be
        else:
            if early:
                self.messenger.post(seal(early))         # no wait for Redis's answer
                early = []
            self._sync(effects.records)
            if self.priest.stamp != self.stamp_shown:  # before any answer that shows it
                self.stamp_shown = self.priest.stamp
                self.messenger.conduit.queue([("ZADD", self.keys.stamps(), "GT",
                                               self.stamp_shown, self.name)])
        stream = self.reply_streams.stream
        self.waiting.answer(effects.applied, stream, extra, petition_acks)   # numbers, or receipts
        extra += [(stream(r.citizen), r) for r in effects.receipts]
        extra = batch_replies(extra)          # one entry per citizen for all its numbers
        expire = self.reply_streams.expiring(extra, time.monotonic(),
                                             self.messenger.conduit.connections)
        self.messenger.flush(seal(early + rest), acks, extra, expire=expire,
                             other_acks={self.petitions: petition_acks}, wait=False)

    def _sync(self, records: Sequence[Record] = ()) -> None:
        """Make ``records`` and every note still pending durable, with one fsync."""
        try:
            self.ledger.write(records)
        except OSError as exc:
            raise LedgerFailed(
                f"priest {self.name} could not write its ledger {self.ledger.path} ({exc}); "
                "what reached the disk is unknown, so this priest stops before it sends "
                "anything that depends on it: fix the disk, then restart it (it replays "
                "its ledger)") from exc

    def _compact(self) -> None:
        """Between batches: archive the applied law and rewrite the ledger, when due."""
        ledger, priest = self.ledger, self.priest
        if due(priest, ledger.archive, self.compact_every) or (
                ledger.size > COMPACT_BYTES and priest.law.known > ledger.archive.end):
            self._sync()                                # compaction starts from a durable ledger
            self.messenger.conduit.push()               # this batch's answers go first
            began = time.monotonic()
            moved = compact(priest, ledger.archive, ledger.replace)
            log.debug("priest %s compacted its ledger: %d decrees archived (law below %d), "
                      "ledger now %d bytes, in %.3f s", self.name, moved, priest.law.known,
                      ledger.size, time.monotonic() - began)

    # ------------------------------------------------------------ inbox entries

    def _inbox_entry(self, entry_id: bytes, fields: Any, effects: Effects,
                     extra: list[Any], acks: list[bytes]) -> None:
        try:
            role = role_of(fields) if isinstance(fields, dict) else b""
            if role == ROLE_GOD:
                self._gods_word(self.wire.check(fields), effects)
            elif role == ROLE_CITIZEN:
                extra.append(self._law_answer(LawQuery.parse(fields)))
            else:
                effects.extend(self.priest.receive(self.wire.open(fields)))   # or refused
        except (MalformedMessage, Refused, ProtocolError, ValueError) as exc:
            self.refused += 1
            self.messenger.dead_letter(entry_id, fields, str(exc))
            return
        acks.append(entry_id)

    def _gods_word(self, fields: Any, effects: Effects) -> None:
        """Start a ballot; found the parliament (decree 0); propose a change of membership."""
        code = fields.get(b"code")
        if code == GOD_START:
            if not self.priest.is_president:
                log.info("priest %s: god asks for a ballot; starting one", self.name)
                effects.extend(self.priest.start_ballot())
        elif code == GOD_FOUND:
            if not self.priest.law.members.founded:
                log.info("priest %s: god founds the parliament", self.name)
            effects.extend(self.priest.found(parse_found(fields)))
        elif code == GOD_CHANGE:
            change, nonce = parse_change(fields)
            if self.priest.is_president:
                log.info("priest %s: proposing to %s priest %s", self.name, change.op,
                         name(change.priest))
            effects.extend(self.priest.propose(change, nonce))
        else:
            raise MalformedMessage("code", "unknown code for god's word")

    def _law_answer(self, query: LawQuery) -> tuple[str, dict[bytes, bytes]]:
        law = self.priest.law
        upto = min(query.stop, law.known, query.start + LAW_CHUNK)
        entries = [(e.n, e.decree) for e in law.read(query.start, upto - query.start)
                   if in_citizens_law(e.n, e.first, e.decree)]     # from the archive too
        answer = LawAnswer(query.req, self.id, law.known, max(upto, query.start),
                           tuple(entries))
        return self.reply_streams.stream(query.reply), answer.fields()

    # ------------------------------------------------------------ petitions

    def _petitions(self, entries: list[tuple[bytes, Any]], effects: Effects, extra: list[Any],
                   petition_acks: list[Any]) -> None:
        """Petitions read (one or a pack per entry): refused, answered from the law, or
        proposed, as the core's triage says.  An entry is acked once none of its petitions
        waits any more."""
        decrees, replies = [], {}
        triage, stream = self.priest.triage, self.reply_streams.stream
        wait_for, unanswered = self.waiting.wait_for, self.waiting.unanswered
        for entry_id, fields in entries:
            try:
                petitions = PetitionEntry.parse_many(fields)
            except MalformedMessage as exc:
                self.refused += 1
                self.messenger.dead_letter(entry_id, fields, str(exc), stream=self.petitions)
                continue
            for petition in petitions:
                answer = triage(petition.decree)
                if answer is not None:                # refused, or passed already: told so
                    extra.append((stream(petition.reply),
                                  Reply(answer.petition, n=answer.n, error=answer.error)))
                    continue
                pid = petition.decree.petition
                wait_for(pid, petition.reply, entry_id, petition_acks)
                decrees.append(petition.decree)
                replies[pid] = petition.reply
            if entry_id not in unanswered:                  # nothing in it waits
                petition_acks.append(entry_id)
        if decrees:
            effects.extend(self.priest.petition(decrees, replies))

    # ------------------------------------------------------------ heartbeat

    def heartbeat(self) -> None:
        """The priest's beat (:mod:`paxos_redis.messengers.heartbeat`) and the renewal of its claim; a
        priest that is no voter also looks for law to fetch."""
        p = self.priest
        s = p.status()
        beat = Beat(self.id, self.settings.parliament, s["role"], bool(s["president"]),
                    s["next_bal"], s["known"], s["highest"], s["genesis"],
                    tuple(int(m) for m in s["members"].split(",") if m), s["members_at"],
                    s["pending_until"], os.getpid(), socket.gethostname(), self.refused,
                    int(time.time() * 1000), s["stamp"])
        ttl = self.settings.heartbeat_ttl_ms
        commands: list[Any] = [self.claim.renewal(), *beat_commands(self.keys, beat, ttl)]
        if p.is_president:
            commands.append(("SET", self.keys.president(), self.name, "PX", ttl))
        commands += self.reply_streams.refresh(time.monotonic())
        replies = self.messenger.conduit.execute(commands)  # ten times a second: packed by hand
        problem = self.claim.check(replies[0])
        if problem is not None:
            raise IdentityTaken(problem)
        if (s["role"] != "voter" or p.hint is None) and time.monotonic() >= self.next_listen:
            self.next_listen = time.monotonic() + LISTEN_EVERY_S
            self._listen()

    def _listen(self) -> None:
        """A listener, a newcomer or a priest removed without knowing it gets no Synod
        messages to tell it what law exists: it hears of the priest that knows the most
        from the roster, and asks it."""
        beats = [b for b in read_roster(self.redis, self.keys).values()
                 if b.priest != self.id and b.genesis
                 and b.genesis in (self.priest.law.members.genesis or b.genesis,)]
        if beats:
            best = max(beats, key=lambda b: (b.known, b.role == "voter"))
            effects = self.priest.hear_of(best.priest, best.known)
            if effects:
                self._commit(effects, [], [], [])
