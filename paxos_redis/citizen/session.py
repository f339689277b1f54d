"""The citizens' side of the protocol, sans I/O: one :class:`Session` per citizen.

In the manner of h11's ``Connection``: the session holds all of a citizen's protocol
state and makes its decisions, and does no I/O itself.  It does not talk to Redis,
sleep or read a clock (time is an argument, ``now``).  The blocking
:class:`~paxos_redis.citizen.client.Client` and the asyncio
:class:`~paxos_redis.citizen.aio.AsyncClient` drive it: they ask it what to send
(:meth:`Session.xadds`, :meth:`Session.xread`), send it, feed it what they read from
the citizen's reply stream (:meth:`Session.receive`), and ask it what is done.

What the session keeps:

* the petitions in flight (:meth:`Session.open` a :class:`~.petitions.Call`, then
  :meth:`Session.close` it): the first answer to each awaited petition id, from the
  acting president's reply or from receipts of a majority of the priests that voted for
  it (:class:`~paxos_redis.messengers.citizens.Tally`), filed into every call awaiting it;
* the rounds of law queries (:meth:`Session.ask` a :class:`~.reading.Round`, then
  :meth:`Session.forget` it) and the priests' law answers filed into them;
* where the citizen is on its reply stream, and whether Redis was last unreachable
  (:attr:`Session.redis_error`, set by the driver), for the error a timeout raises.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from paxos_redis.citizen.petitions import Call, check_options, check_timeout, new_citizen_id
from paxos_redis.citizen.reading import LawReader, Round, live_priests
from paxos_redis.errors import ParliamentUnavailable, ProtocolError
from paxos_redis.messengers.citizens import LawAnswer, Reply, Tally, parse_replies, petition_fields
from paxos_redis.messengers.heartbeat import Beat
from paxos_redis.messengers.keys import Keys
from paxos_redis.messengers.streams import entry_fields, flat_fields, stream_entries
from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.effects import Receipt

log = logging.getLogger(__name__)

#: Citizens trim the streams they write to about this many entries (as the messenger does).
MAXLEN = 100_000
#: Longest XREAD BLOCK on the reply stream, in ms (less if the socket timeout is short).
READ_BLOCK_MS = 500
READ_COUNT = 1_000

Entries = Iterable[tuple[str, Mapping[bytes, bytes]]]
Command = tuple[Any, ...]


def parse_reply(fields: Mapping[Any, Any]) -> list[Reply] | list[Receipt] | list[LawAnswer]:
    """A reply-stream entry: petitions' :class:`Reply` s, a priest's receipts of its votes,
    or a :class:`LawAnswer` (none: junk)."""
    try:
        if b"req" in fields or "req" in fields:
            return [LawAnswer.parse(fields)]
        return parse_replies(fields)
    except ProtocolError as exc:
        log.warning("ignoring a malformed entry on the reply stream: %s", exc)
        return []


def hint(keys: Keys, beats: Mapping[int, Beat]) -> str:
    """What the heartbeats say about why the Parliament did not answer."""
    if not beats:
        return (f"No priest of parliament {keys.parliament!r} has a heartbeat on this Redis: "
                "start the priest workers (or check the Redis URL and parliament name)")
    voters = sorted(b.name for b in beats.values() if b.role == "voter")
    if not voters:
        return (f"{len(beats)} priests are alive but none is a voter: the parliament is not "
                "founded yet (is a god running? paxos-redis god --priests N)")
    presidents = [b.name for b in beats.values() if b.president]
    if not presidents:
        return (f"Voters {', '.join(voters)} are alive but none says it presides: a ballot may "
                "be in progress, or no god is running to start one")
    return (f"Voters {', '.join(voters)} are alive and {presidents[0]} presides; a majority "
            "of the members may be missing or the parliament is overloaded")


class Session:
    """A citizen's protocol state and decisions (see the module); one per client.

    ``citizen_id`` names the reply stream (None: a fresh one, which :attr:`own_id` marks
    as the session's to delete); ``retry``: seconds between re-sends of an unanswered
    petition or law query; ``block_cap``: the longest XREAD BLOCK the client's socket
    timeout allows (ms, None: no cap).  Not thread-safe: a threaded driver holds its lock
    around every call that changes the session.
    """

    def __init__(self, parliament: str, citizen_id: str | None = None, *,
                 max_decree_bytes: int = 1 << 20, retry: float = 1.0,
                 block_cap: int | None = None) -> None:
        check_options(max_decree_bytes, retry)
        self.keys = Keys(parliament)
        self.own_id = citizen_id is None
        self.citizen_id = citizen_id if citizen_id is not None else new_citizen_id()
        self.reply_stream = self.keys.replies(self.citizen_id)     # validates the id
        self.petitions_stream = self.keys.petitions()
        self.max_decree_bytes, self.retry = max_decree_bytes, retry
        self.block_ms = READ_BLOCK_MS if block_cap is None else max(10, min(READ_BLOCK_MS,
                                                                            block_cap))
        #: the last entry read from the reply stream
        self.last_id: Any = b"0-0"
        #: why Redis was unreachable at the last try, None if it was reached (the driver's)
        self.redis_error: Exception | None = None
        self._calls: dict[Call, None] = {}              # the open calls, in order
        self._awaited: dict[str, list[Call]] = {}       # petition id -> the calls awaiting it
        self._answers: dict[str, Reply] = {}            # first answer per awaited petition id
        self._tally = Tally()                           # receipts of votes for awaited ids
        self._rounds: dict[str, Round] = {}             # open rounds of law queries, by req

    @property
    def petitioning(self) -> bool:
        """Whether any call waits for its petitions' decree numbers."""
        return bool(self._calls)

    @property
    def listening(self) -> bool:
        """Whether anything waits for an answer on the reply stream."""
        return bool(self._awaited or self._rounds)

    # ------------------------------------------------------------- petitions

    def open(self, decrees: Sequence[Decree], now: float, timeout: float) -> Call:
        """Await the decree numbers of ``decrees`` (distinct petition ids) until
        ``now + timeout``.  A petition id another open call already has an answer for is
        answered at once.  Every call opened must be :meth:`close` d."""
        call = Call(decrees, now, timeout, self.retry)
        for decree in decrees:
            pid = decree.petition
            calls = self._awaited.get(pid)
            if calls is None:
                self._awaited[pid] = [call]
                continue
            calls.append(call)
            answer = self._answers.get(pid)
            if answer is not None:
                call.take(answer)
        self._calls[call] = None
        return call

    def close(self, call: Call) -> None:
        """Stop awaiting ``call``'s petitions (answered, refused, timed out or abandoned)."""
        self._calls.pop(call, None)
        for decree in call.decrees:
            pid = decree.petition
            calls = self._awaited.get(pid)
            if calls is None or call not in calls:
                continue
            calls.remove(call)
            if not calls:
                del self._awaited[pid]
                self._answers.pop(pid, None)
                self._tally.forget(pid)

    def sweep(self, now: float) -> list[Call]:
        """The open calls that must act now: expired, or due to send petitions again."""
        return [call for call in self._calls
                if not call.done and now >= min(call.deadline, call.resend)]

    def unreachable(self, call: Call) -> ParliamentUnavailable | None:
        """If Redis was unreachable when ``call`` ended unanswered, the error to raise
        (None: it was reached, so the Parliament did not answer: :meth:`Call.timeout_error`)."""
        if self.redis_error is None:
            return None
        pid = call.unanswered()[0]
        return ParliamentUnavailable(
            f"Redis was unreachable while petition {pid!r} waited ({self.redis_error}); "
            f"it may or may not have been sent: retry with the same pid={pid!r} once "
            "Redis is back")

    # ------------------------------------------------------------- the law

    def read_law(self, start: int, stop: int | None, now: float, timeout: float) -> LawReader:
        """One read of the law, decrees ``start <= n < stop``, until ``now + timeout``."""
        check_timeout(timeout)
        return LawReader(start, stop, now, timeout)

    def ask(self, reader: LawReader, beats: Mapping[int, Beat]) -> Round:
        """A round of law queries for ``reader`` to every live priest in ``beats``
        (:class:`ParliamentUnavailable` if none); :meth:`forget` it once over."""
        priests = live_priests(self.keys, beats)
        req = uuid.uuid4().hex
        query = reader.query(req, self.citizen_id).fields()
        entries = [(self.keys.inbox(priest), query) for priest in priests]
        round_ = self._rounds[req] = Round(req, priests, entries, reader.deadline, self.retry)
        return round_

    def forget(self, round_: Round) -> None:
        self._rounds.pop(round_.req, None)

    def hint(self, beats: Mapping[int, Beat]) -> str:
        """What the heartbeats ``beats`` say about why the Parliament did not answer."""
        return hint(self.keys, beats)

    # ------------------------------------------------------------- the wire

    def xadds(self, entries: Entries = (), petitions: Sequence[Decree] = ()) -> list[Command]:
        """The XADDs that send ``(stream, fields)`` entries, then ``petitions`` packed
        (see :func:`~paxos_redis.messengers.citizens.petition_fields`)."""
        if petitions:
            entries = [*entries, *((self.petitions_stream, fields) for fields in
                                   petition_fields(petitions, self.citizen_id))]
        return [("XADD", stream, "MAXLEN", "~", MAXLEN, "*", *flat_fields(fields))
                for stream, fields in entries]

    def block(self, wait: float) -> int:
        """How long an XREAD may block to wait at most ``wait`` s (ms, at least 1)."""
        return max(1, min(self.block_ms, int(wait * 1000)))

    def xread(self, block_ms: int | None = None) -> Command:
        """The next XREAD of the reply stream, blocking ``block_ms`` (default: as long as
        the socket allows, at most READ_BLOCK_MS)."""
        return ("XREAD", "COUNT", READ_COUNT, "BLOCK", self.block_ms if block_ms is None
                else block_ms, "STREAMS", self.reply_stream, self.last_id)

    def receive(self, reply: Any) -> list[Call | Round]:
        """File what an XREAD of the reply stream returned; the calls it ended and the
        rounds it brought answers to (each once per answer)."""
        woken: list[Call | Round] = []
        for entry_id, flat in stream_entries(reply):
            self.last_id = entry_id
            for item in parse_reply(entry_fields(flat)):
                self.file(item, woken)
        return woken

    def file(self, item: Reply | Receipt | LawAnswer, woken: list[Call | Round]) -> None:
        """File one answer: a petition's reply (a retry's duplicate is the same), a
        priest's receipt (counted toward a majority), or a priest's law answer; what it
        ended or advanced goes to ``woken``.  Answers nobody awaits are dropped."""
        if isinstance(item, LawAnswer):
            round_ = self._rounds.get(item.req)
            if round_ is not None:
                round_.answers.append(item)
                woken.append(round_)
            return
        if isinstance(item, Receipt):
            pid = item.petition
            if pid not in self._awaited or pid in self._answers:
                return
            counted = self._tally.add(item)
            if counted is None:
                return
            reply = counted
        else:
            pid, reply = item.pid, item
            if pid not in self._awaited or pid in self._answers:
                return
        self._answers[pid] = reply
        for call in self._awaited[pid]:
            if call.take(reply):
                woken.append(call)
