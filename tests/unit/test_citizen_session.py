"""The citizen's sans-I/O session alone: no Redis, no clock; time is an argument.

Each test plays the Parliament's side by hand: it reads the XADDs the session asks to
send, and feeds it XREAD replies of the citizen's reply stream built with the wire
encoders the priests use (``Reply.fields``, ``batch_replies``, ``LawAnswer.fields``).
"""

from __future__ import annotations

from typing import Any

import pytest

from paxos_redis.citizen.petitions import SYNC_PREFIX, Call, sync_decree
from paxos_redis.citizen.reading import GATHER, MAX_PAUSE, PAUSE, Round
from paxos_redis.citizen.session import MAXLEN, READ_BLOCK_MS, Session
from paxos_redis.errors import ParliamentUnavailable, PetitionRefused, PetitionTimeout
from paxos_redis.messengers.citizens import (
    LawAnswer,
    LawQuery,
    PetitionEntry,
    Reply,
    batch_replies,
)
from paxos_redis.messengers.heartbeat import Beat
from paxos_redis.messengers.streams import entry_fields, flat_fields
from paxos_redis.protocol import Ballot, Receipt
from paxos_redis.protocol.decree import INTERNAL, Decree

A, B, C = 0xA1, 0xB2, 0xC3
T0 = 1000.0
B1 = Ballot(1, A)


class Wire:
    """The citizen's reply stream as the session reads it: raw XREAD replies (RESP2)."""

    def __init__(self, session: Session) -> None:
        self.session, self.seq = session, 0

    def reply(self, *entries: dict[bytes, bytes]) -> list[Any]:
        out = []
        for fields in entries:
            self.seq += 1
            out.append([f"{self.seq}-0".encode(), flat_fields(fields)])
        return [[self.session.reply_stream.encode(), out]]

    def feed(self, *entries: dict[bytes, bytes]) -> list[Call | Round]:
        return self.session.receive(self.reply(*entries))


def xadded(command: tuple[Any, ...]) -> tuple[str, dict[bytes, bytes]]:
    """The stream and fields of an XADD the session asked for (trimmed like the messenger's)."""
    assert command[:6] == ("XADD", command[1], "MAXLEN", "~", MAXLEN, "*")
    return command[1], entry_fields(list(command[6:]))


def beats(*priests: int, president: int | None = A) -> dict[int, Beat]:
    return {p: Beat(p, "senate", "voter", p == president, "1.a1", genesis="g1",
                    members=(A, B, C)) for p in priests}


@pytest.fixture
def session() -> Session:
    return Session("senate", "c-1", retry=1.0)


# ------------------------------------------------------------------ petitions

def test_a_petition_is_sent_and_answered_by_the_presidents_reply(session: Session) -> None:
    call = session.open([Decree("p1", b"body")], T0, 10.0)
    [command] = session.xadds((), call.due(T0))
    stream, fields = xadded(command)
    assert stream == session.keys.petitions()
    assert PetitionEntry.parse(fields) == PetitionEntry(Decree("p1", b"body"), "c-1")
    assert session.listening and not call.done
    assert Wire(session).feed(Reply("other", n=3).fields()) == []   # nobody awaits "other"
    assert not call.done
    wire = Wire(session)
    wire.seq = 7
    assert wire.feed(Reply("p1", n=5).fields()) == [call]
    assert call.done and call.result() == [5]
    assert session.last_id == b"8-0"
    assert session.xread()[-1] == b"8-0"                # the next read goes on from there
    session.close(call)
    assert not session.listening and not session.petitioning


def test_receipts_from_a_majority_of_the_members_answer_a_petition(session: Session) -> None:
    call = session.open([Decree("p1", b"x")], T0, 10.0)
    stream = session.reply_stream

    def receipt(priest: int, n: int = 4, ballot: Ballot = B1) -> dict[bytes, bytes]:
        [(_, fields)] = batch_replies([(stream, Receipt("c-1", priest, 3, ballot, n, "p1"))])
        return fields

    wire = Wire(session)
    assert wire.feed(receipt(A)) == [] and not call.done
    assert wire.feed(receipt(A)) == [] and not call.done            # the same voter again
    assert wire.feed(receipt(B, n=5)) == [] and not call.done       # another number
    assert wire.feed(receipt(B, ballot=Ballot(2, B))) == []         # another ballot
    assert wire.feed(receipt(B)) == [call]                          # 2 of 3 at (4, 1.a1)
    assert call.result() == [4]
    assert wire.feed(Reply("p1", n=4).fields()) == []               # the reply comes late
    assert wire.feed(receipt(A, n=6), receipt(C, n=6)) == []        # no counting once answered
    again = session.open([Decree("p1", b"x")], T0, 10.0)
    assert again.result() == [4]                                    # the first answer stands


def test_an_unanswered_petition_is_sent_again_every_retry_with_the_same_pid(
        session: Session) -> None:
    decrees = [Decree("p1", b"a"), Decree("p2", b"b")]
    call = session.open(decrees, T0, 10.0)
    assert call.due(T0) == decrees
    assert call.due(T0 + 0.5) == [] and call.until == T0 + 1.0
    assert session.sweep(T0 + 0.5) == [] and session.sweep(T0 + 1.0) == [call]
    Wire(session).feed(Reply("p2", n=9).fields())
    [command] = session.xadds((), call.due(T0 + 1.0))        # only the unanswered one, same id
    assert PetitionEntry.parse(xadded(command)[1]).decree == Decree("p1", b"a")
    assert Wire(session).feed(Reply("p1", n=8).fields()) == [call]
    assert call.result() == [8, 9]
    # a citizen asking again for an answered pid (a retried call) gets the same number at once
    again = session.open([Decree("p1", b"a")], T0 + 2, 10.0)
    assert again.done and again.result() == [8] and again.due(T0 + 2) == []
    session.close(call)
    session.close(again)
    assert not session.listening
    later = session.open([Decree("p1", b"a")], T0 + 3, 10.0)      # nobody kept its answer:
    assert not later.done and later.due(T0 + 3) == [Decree("p1", b"a")]   # ask the Parliament
    assert Wire(session).feed(Reply("p1", n=8).fields()) == [later]


def test_a_retried_petitions_duplicate_answer_is_the_first_one(session: Session) -> None:
    first = session.open([Decree("job-1", b"x")], T0, 10.0)
    second = session.open([Decree("job-1", b"x")], T0, 10.0)      # two calls, one pid
    [(_, passed)] = batch_replies([(session.reply_stream, Reply("job-1", n=3)),
                                   (session.reply_stream, Reply("job-1", n=3))])
    assert Wire(session).feed(passed, Reply("job-1", error="late").fields()) == [first, second]
    assert first.result() == second.result() == [3]
    third = session.open([Decree("job-1", b"x")], T0, 10.0)           # the first answer stands
    assert third.done and third.result() == [3]
    session.close(third)
    session.close(first)
    assert session.listening                                       # the second still awaits it
    session.close(second)
    assert not session.listening


def test_a_refused_petition_raises_with_the_parliaments_reason(session: Session) -> None:
    call = session.open([Decree("p1", b"x"), Decree("p2", b"y")], T0, 10.0)
    Wire(session).feed(Reply("p1", error="decree too large").fields())
    assert call.done
    with pytest.raises(PetitionRefused, match="decree too large") as caught:
        call.result()
    assert caught.value.pid == "p1"
    assert call.due(T0 + 5) == []                                  # nothing is sent again


def test_a_timeout_says_what_the_heartbeats_say(session: Session) -> None:
    call = session.open([Decree("p1", b"x"), Decree("p2", b"y")], T0, 2.0)
    Wire(session).feed(Reply("p1", n=1).fields())
    assert not call.expired(T0 + 1.99) and call.expired(T0 + 2.0)
    assert session.sweep(T0 + 2.0) == [call]
    assert session.unreachable(call) is None
    error = call.timeout_error(session.hint(beats(A, B, C)))
    assert isinstance(error, PetitionTimeout) and error.pids == ("p2",)
    assert "a1 presides" in str(error) and "2 s" in str(error)
    assert "none says it presides" in session.hint(beats(A, B, president=None))
    assert "has a heartbeat" in session.hint({})
    session.redis_error = ConnectionError("connection refused")
    gone = session.unreachable(call)
    assert isinstance(gone, ParliamentUnavailable)
    assert "pid='p2'" in str(gone) and "connection refused" in str(gone)


def test_the_sync_barrier_is_an_internal_petition(session: Session) -> None:
    decree = sync_decree()
    assert decree.petition.startswith(SYNC_PREFIX) and decree.petition.startswith(INTERNAL)
    assert sync_decree().petition != decree.petition
    call = session.open([decree], T0, 5.0)
    Wire(session).feed(Reply(decree.petition, n=12).fields())
    assert call.result() == [12]


# ------------------------------------------------------------------ the law

def law_answer(req: str, priest: int, known: int, start: int, upto: int,
               law: list[Decree]) -> dict[bytes, bytes]:
    entries = tuple((n, law[n]) for n in range(start, upto))
    return LawAnswer(req, priest, known, upto, entries).fields()


LAW = [Decree(f"p{n}", f"decree {n}".encode()) if n % 3 else Decree(INTERNAL + f"noop{n}", b"")
       for n in range(8)]


def test_a_law_read_is_assembled_from_several_priests_answers(session: Session) -> None:
    reader = session.read_law(0, None, T0, 5.0)
    round_ = session.ask(reader, beats(A, B, C))
    assert round_.wait_until(T0) == T0 + 1.0 and round_.send
    sent = [xadded(command) for command in session.xadds(round_.entries)]
    assert [stream for stream, _ in sent] == [session.keys.inbox(p) for p in (A, B, C)]
    query = LawQuery.parse(sent[0][1])
    assert (query.reply, query.start) == ("c-1", 0)
    assert not round_.ready() and round_.wait_until(T0 + 0.5) == T0 + 1.0 and not round_.send
    wire = Wire(session)
    assert wire.feed(law_answer(query.req, B, 2, 0, 2, LAW)) == [round_]   # a lagging priest
    assert round_.ready()
    assert round_.wait_until(T0 + 0.5) == T0 + 0.5 + GATHER and not round_.ready()
    assert wire.feed(law_answer(query.req, A, 8, 0, 4, LAW),             # chunked: 4 of 8
                     law_answer("someone-elses", C, 8, 0, 8, LAW)) == [round_]
    assert round_.wait_until(T0 + 0.5 + GATHER) is None                 # C never answered
    assert reader.take(round_.answers, T0 + 0.6) == 0.0 and not reader.done
    assert reader.law == [(1, b"decree 1"), (2, b"decree 2")]           # no internal no-ops
    session.forget(round_)
    assert not session.listening

    again = session.ask(reader, beats(A, B, C))
    assert LawQuery.parse(again.entries[0][1]).start == 4               # from where it got
    again.wait_until(T0 + 0.7)
    req = again.req
    wire.feed(*(law_answer(req, p, 8, 4, 8, LAW) for p in (A, B, C)))
    assert again.wait_until(T0 + 0.7) is None                           # all three answered
    assert reader.take(again.answers, T0 + 0.7) == 0.0 and reader.done
    assert [n for n, _ in reader.law] == [1, 2, 4, 5, 7]


def test_a_linearizable_read_waits_past_the_sync_barrier(session: Session) -> None:
    reader = session.read_law(0, None, T0, 1.0)
    reader.barrier = 5
    answer = LawAnswer("r", A, 5, 5, tuple((n, LAW[n]) for n in range(5)))
    assert reader.take([answer], T0) == 0.0 and not reader.done          # got 0..4, barrier 5
    behind = LawAnswer("r", A, 5, 5, ())
    assert [reader.take([behind], T0 + t) for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)] == \
        [PAUSE, 2 * PAUSE, 4 * PAUSE, 8 * PAUSE, 16 * PAUSE, MAX_PAUSE]  # priests catching up
    assert reader.take([behind], T0 + 0.95) == pytest.approx(0.05)      # not past the deadline
    assert reader.expired(T0 + 1.0)
    error = reader.timeout_error("Voters a1 are alive")
    assert "the law from decree 5.. (the sync barrier is decree 5)" in str(error)
    assert "within 1 s. Voters a1 are alive" in str(error)
    assert reader.take([LawAnswer("r", A, 6, 6, ((5, LAW[5]),))], T0 + 0.99) == 0.0
    assert reader.done and not reader.expired(T0 + 2) and reader.law[-1] == (5, b"decree 5")


def test_a_law_read_stops_at_stop_and_needs_a_live_founded_priest(session: Session) -> None:
    reader = session.read_law(2, 4, T0, 1.0)
    reader.take([LawAnswer("r", A, 8, 8, tuple((n, LAW[n]) for n in range(2, 8)))], T0)
    assert reader.done and reader.law == [(2, b"decree 2")]
    assert session.read_law(3, 3, T0, 1.0).done
    unfounded = {A: Beat(A, "senate", "unfounded")}
    with pytest.raises(ParliamentUnavailable, match="knows its founding"):
        session.ask(reader, unfounded)
    with pytest.raises(ValueError, match="timeout"):
        session.read_law(0, None, T0, 0)
    with pytest.raises(ValueError, match="stop"):
        session.read_law(4, 2, T0, 1.0)


def test_the_reply_stream_read_blocks_no_longer_than_the_socket_allows() -> None:
    session = Session("senate", retry=0.5)
    assert session.own_id and session.reply_stream == session.keys.replies(session.citizen_id)
    assert session.xread()[4] == READ_BLOCK_MS
    assert session.block(0.0001) == 1 and session.block(0.2) == 200
    assert session.block(60) == READ_BLOCK_MS
    assert Session("senate", block_cap=3).block_ms == 10
    assert Session("senate", block_cap=250).block(60) == 250
    junk = Wire(session).reply({b"what": b"ever"}, {b"passed": b"\x00\x00"})
    assert session.receive(junk) == [] and session.last_id == b"2-0"
