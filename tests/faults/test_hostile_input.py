"""Hostile input on a priest's inbox: a real Worker on fakeredis, stepped by hand (no threads).

Whatever lands in the inbox, nothing escapes ``step()``; an entry that is not a
valid message of this parliament changes none of the priest's durable state,
goes to the dead-letter stream and is counted; a valid but hostile Synod message
(a huge ballot) may change the promise, but only through the ledger first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paxos_redis.messengers.citizens import found_fields
from paxos_redis.messengers.wire import Wire
from paxos_redis.protocol import codec
from paxos_redis.protocol.ballot import Ballot
from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.membership import Founding
from paxos_redis.protocol.messages import BeginBallot, LastVote, NextBallot
from paxos_redis.protocol.records import Identity, Promise
from paxos_redis.runtime.settings import Settings
from paxos_redis.runtime.worker import Worker
from paxos_redis.storage.ledger import FileLedger, replay

#: the members of the parliament: the priest under test is P0; P1 and P2 are elsewhere
P0, P1, P2 = MEMBERS = (0xA0, 0xA1, 0xA2)
PARLIAMENT = "hostile"
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@contextmanager
def priest(secret: str | None = None) -> Iterator[tuple[Worker, Any]]:
    """Priest P0 of a parliament founded with three members, started, on a fresh fakeredis
    and ledger directory; decree 0 (the founding) is durable and nothing else waits."""
    with tempfile.TemporaryDirectory() as tmp:
        server = fakeredis.FakeServer()
        s = Settings(ledger_dir=Path(tmp), parliament=PARLIAMENT, secret=secret)
        ledger = FileLedger.open(s.ledger_path(P0), create=Identity(PARLIAMENT, P0))
        worker = Worker(s, fakeredis.FakeRedis(server=server), ledger)
        worker.start()
        redis = fakeredis.FakeRedis(server=server)
        god = Wire(PARLIAMENT, secret)
        redis.xadd(worker.keys.inbox(P0), god.seal_fields(found_fields(Founding("g1", 4096,
                                                                                 MEMBERS))))
        drain(worker, redis)
        worker._sync()
        assert worker.priest.role == "voter" and worker.priest.law.known == 1
        try:
            yield worker, redis
        finally:
            worker.close()


def durable(worker: Worker) -> tuple[Any, ...]:
    """The priest's state and what its ledger holds, on disk or waiting for the next fsync
    (a heartbeat may sync an earlier entry's notes during any step)."""
    p = worker.priest
    return (p.next_bal, p.last_tried, dict(p.votes), p.law.known, dict(p.law.decrees),
            worker.ledger.path.stat().st_size + worker.ledger.pending_bytes)


def drain(worker: Worker, redis: Any, steps: int = 4) -> None:
    """Step until the inbox has nothing pending (a few steps at most)."""
    for _ in range(steps):
        worker.step()
        if redis.xpending(worker.keys.inbox(P0), "priests")["pending"] == 0 and \
                not redis.xinfo_groups(worker.keys.inbox(P0))[0]["lag"]:
            break


def stats(redis: Any) -> int:
    return int(redis.hget(f"paxos:{{{PARLIAMENT}}}:stats", "deadletter") or 0)


# ------------------------------------------------------------------ invalid entries

WIRE = Wire(PARLIAMENT)
HUGE = st.sampled_from([0, 1, 1 << 16, 1 << 20, 2 << 20])


def valid_next_ballot(rnd: int = 7) -> dict[bytes, bytes]:
    return WIRE.seal(NextBallot(P1, Ballot(rnd, P1), 1, 1))


def valid_begin_ballot(size: int) -> dict[bytes, bytes]:
    return WIRE.seal(BeginBallot(P1, Ballot(7, P1), 1, ((1, Decree("p", b"\xab" * size)),)))


values = st.one_of(st.binary(max_size=64), st.integers(-2**70, 2**70).map(str), st.integers(),
                   st.floats(allow_nan=False).map(repr), st.text(max_size=20))
random_fields = st.dictionaries(st.one_of(st.binary(min_size=1, max_size=12),
                                          st.sampled_from([b"role", b"code", b"from", b"parl",
                                                           b"ballot", b"known", b"n"])),
                                values, min_size=1, max_size=8).filter(
    lambda f: f.get(b"role") not in (b"god", b"citizen"))


@st.composite
def broken_messages(draw: st.DrawFn) -> dict[bytes, Any]:
    """A well-formed message of this parliament, then one defect that makes it invalid."""
    size = draw(HUGE)
    fields: dict[bytes, Any] = dict(draw(st.sampled_from([valid_next_ballot(),
                                                          valid_begin_ballot(size)])))
    defect = draw(st.sampled_from(["drop", "parl", "no-parl", "sender", "round", "code", "role",
                                   "garbage", "ballot-text"]))
    if defect == "drop":
        fields.pop(draw(st.sampled_from(sorted(k for k in fields if k != b"parl"))))
    elif defect == "parl":
        fields[b"parl"] = draw(st.sampled_from([b"other", b"", b"hostile ", b"HOSTILE",
                                                b"\xff\xfe"]))
    elif defect == "no-parl":
        del fields[b"parl"]
    elif defect == "sender":                   # not the ballot's priest, or not an identity
        fields[b"from"] = draw(st.sampled_from([b"3", str(P2).encode(), str(2**31).encode(),
                                                b"-1", b"",
                                                b"1.0", b"0x1", str(10**25).encode()]))
    elif defect == "round":                    # a ballot beyond 2**64, or malformed
        fields[b"ballot"] = draw(st.sampled_from([f"{2**64}.1".encode(), b"1", b"1.2.3",
                                                  f"1.{2**31}".encode(), b"-1.1", b"\xff.1"]))
    elif defect == "code":
        fields[b"code"] = draw(st.sampled_from([b"0", b"5", b"99", b"", b"one", b"1 ",
                                                str(2**70).encode()]))
    elif defect == "role":
        fields[b"role"] = draw(st.sampled_from([b"", b"pope", b"President", b"\x00"]))
    elif defect == "garbage":                  # packed fields that do not unpack
        key = b"decree" if b"decree" in fields else b"n"
        fields[key] = draw(st.binary(min_size=1, max_size=20).filter(lambda b: not b.isdigit()))
    else:
        fields[b"ballot"] = draw(st.text(max_size=10).map(str.encode).filter(
            lambda b: b.count(b".") != 1))
    if draw(st.booleans()):                    # extra fields never rescue a broken message
        fields[draw(st.binary(min_size=1, max_size=8))] = draw(st.binary(max_size=8))
    return fields


invalid_entries = st.lists(st.one_of(random_fields, broken_messages()), min_size=1, max_size=4)


@FAST
@given(invalid_entries)
def test_invalid_entries_are_dead_lettered_and_change_nothing(entries: list[dict]) -> None:
    with priest() as (worker, redis):
        before, counted = durable(worker), stats(redis)
        dead_before = redis.xlen(worker.keys.deadletter())
        ids = [redis.xadd(worker.keys.inbox(P0), fields) for fields in entries]
        drain(worker, redis)
        assert durable(worker) == before
        assert stats(redis) == counted + len(entries)
        dead = redis.xrange(worker.keys.deadletter())
        assert len(dead) == dead_before + len(entries)
        assert sorted(f[b"entry"] for _, f in dead[dead_before:]) == sorted(ids)
        assert all(f[b"reason"] for _, f in dead)
        assert redis.xpending(worker.keys.inbox(P0), "priests")["pending"] == 0
        assert worker.refused == len(entries)
        # nothing was sent on their account: no other priest's inbox has an entry
        assert all(redis.xlen(worker.keys.inbox(p)) == 0 for p in (P1, P2))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(broken_messages(), min_size=1, max_size=3), st.booleans())
def test_with_a_secret_unsigned_or_forged_messages_are_refused(entries: list[dict],
                                                               forge: bool) -> None:
    with priest(secret="s3cret") as (worker, redis):
        signed = Wire(PARLIAMENT, "s3cret").seal(NextBallot(P1, Ballot(9, P1), 1, 1))
        if forge:
            signed[b"ballot"] = f"10.{P1}".encode()     # tampered after signing
        entries = [*entries, signed if forge else valid_next_ballot()]
        before = durable(worker)
        for fields in entries:
            redis.xadd(worker.keys.inbox(P0), fields)
        drain(worker, redis)
        assert durable(worker) == before
        assert stats(redis) == len(entries)


# ------------------------------------------------------------------ valid but hostile

@FAST
@given(st.integers(8, 2**62), st.sampled_from([P1, P2]), st.integers(0, 2**20))
def test_a_huge_ballot_may_change_the_promise_but_only_through_the_ledger(
        rnd: int, sender: int, known: int) -> None:
    with priest() as (worker, redis):
        ballot = Ballot(rnd, sender)
        path = worker.ledger.path
        flush = worker.messenger.flush
        seen: list[bool] = []

        def checked_flush(outgoing: Any, acks: Any, extra: Any = (), **kw: Any) -> int:
            outgoing = list(outgoing)
            if any(dst == sender for dst, _ in outgoing):   # the reply is about to leave
                records, _ = replay(path, path.read_bytes())
                seen.append(Promise(ballot) in records)
            return flush(outgoing, acks, extra, **kw)

        worker.messenger.flush = checked_flush        # type: ignore[method-assign]
        redis.xadd(worker.keys.inbox(P0), WIRE.seal(NextBallot(sender, ballot, known, 0)))
        drain(worker, redis)
        assert worker.priest.next_bal == ballot
        assert seen and all(seen), "the promise must be durable before last vote leaves"
        replies = [codec.decode(f) for _, f in redis.xrange(worker.keys.inbox(sender))]
        assert any(isinstance(m, LastVote) and m.ballot == ballot for m in replies)
        assert stats(redis) == 0
        # a lower ballot afterwards is refused by the protocol, not dead-lettered
        redis.xadd(worker.keys.inbox(P0), valid_next_ballot(rnd=1))
        drain(worker, redis)
        assert worker.priest.next_bal == ballot and stats(redis) == 0


# ------------------------------------------------------------------ known holes (see report)

def test_law_query_with_a_bad_reply_id_is_dead_lettered() -> None:
    with priest() as (worker, redis):
        redis.xadd(worker.keys.inbox(P0), {b"role": b"citizen", b"code": b"1", b"req": b"r",
                                          b"reply": b"not a valid id!", b"from": b"0",
                                          b"to": b"5"})
        drain(worker, redis)
        assert stats(redis) == 1


def test_unauthenticated_god_word_is_refused_with_a_secret() -> None:
    with priest(secret="s3cret") as (worker, redis):
        before = durable(worker)
        redis.xadd(worker.keys.inbox(P0), {b"role": b"god", b"code": b"1", b"parl": b"other"})
        drain(worker, redis)
        assert durable(worker) == before


def test_a_priest_can_still_preside_after_promising_the_last_round() -> None:
    with priest() as (worker, redis):
        last = Ballot(2**64 - 1, P1)                 # P1 > P0: P0 owns no ballot above it
        redis.xadd(worker.keys.inbox(P0), WIRE.seal(NextBallot(P1, last, 1, 1)))
        drain(worker, redis)
        assert stats(redis) == 1                     # no successor exists: refused
        redis.xadd(worker.keys.inbox(P0), WIRE.seal_fields({b"role": b"god", b"code": b"1"}))
        drain(worker, redis)
        assert worker.priest.president is not None


def test_petition_with_a_bad_reply_id_is_dead_lettered() -> None:
    from paxos_redis.protocol import Effects
    with priest() as (worker, redis):
        oversize = b"x" * (worker.settings.max_decree_bytes + 1)
        worker._petitions([(b"1-0", {b"pid": b"p", b"body": oversize, b"reply": b"bad id!"})],
                          Effects(), [], [])
        assert stats(redis) == 1


def test_a_begin_ballot_over_the_decree_limit_gets_no_vote() -> None:
    with priest() as (worker, redis):
        before = durable(worker)
        too_big = worker.settings.max_decree_bytes + 1
        redis.xadd(worker.keys.inbox(P0), valid_begin_ballot(too_big))
        drain(worker, redis)
        assert durable(worker) == before and stats(redis) == 1
        reason = redis.xrange(worker.keys.deadletter())[-1][1][b"reason"]
        assert b"over this priest's limit" in reason
        assert redis.xlen(worker.keys.inbox(P1)) == 0          # no vote left


def test_a_failed_fsync_stops_the_priest_before_it_answers() -> None:
    import errno

    from paxos_redis.storage.ledger import LedgerFailed

    with priest() as (worker, redis):
        def full_disk(stage: str) -> None:
            if stage == "fsync":
                raise OSError(errno.ENOSPC, "No space left on device")
        worker.ledger.faults = full_disk
        redis.xadd(worker.keys.inbox(P0), valid_next_ballot())
        with pytest.raises(LedgerFailed, match="could not write its ledger .*No space left"):
            drain(worker, redis)
        assert redis.xlen(worker.keys.inbox(P1)) == 0          # no last vote left
        assert redis.xpending(worker.keys.inbox(P0), "priests")["pending"] == 1   # not acked
