"""The president: proposer of the multi-decree Parliament.

State, as in the paper:

``ballot``     the ballot this president is conducting (``last_tried`` of its priest)
``promises``   the last votes received for that ballot (phase one)
``proposals``  decree numbers in flight with the decree proposed and the priests that voted

A new president sends one *next ballot* covering every decree number from the
first it does not know passed (``from_n``).  With last votes from a majority it
chooses, for every decree number above what any of them knows passed, the
decree of the highest-numbered vote reported (B3), fills the gaps with the
olive-day decree, and sends *begin ballot* for all of them.  From then on each
new petition takes only phase two: one round trip, many decrees per message,
``window`` decree numbers in flight.  Decrees passed are announced to the other
priests (*successful ballot*) every ``rules.announce_ticks``, or as soon as
``rules.announce`` are ready: the citizen's answer does not wait for it, and one
announcement carries every decree passed since the last.

Receipts.  When a petition takes the lowest decree number this president does not
know passed, and its law does not hold the petition, that number is where the law
will apply it if it passes at all: every lower number is passed and holds other
decrees.  The begin ballot then names the citizen (``receipt``), each voter tells the
citizen its vote, and a majority of those receipts answers the citizen one hop
sooner than the president could.  A sequential citizen's petitions always qualify.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .ballot import Ballot
from .decree import OLIVE_DAY, Decree
from .messages import (
    BeginBallot,
    Entry,
    FailedBallot,
    LastVote,
    Message,
    NextBallot,
    SuccessfulBallot,
    Voted,
    VoteNo,
    body_bytes,
)

if TYPE_CHECKING:
    from .priest import Priest

PREPARING, ACTIVE, DEPOSED = "preparing", "active", "deposed"


@dataclass(slots=True)
class Proposal:
    """One decree number in flight: the decree proposed and who voted for it."""

    decree: Decree
    sent: int
    voters: set[int] = field(default_factory=set)
    #: the citizen its voters send receipts to (see the module's docstring), if any
    citizen: str | None = None


class President:
    """Conducts ballots for its priest; all its effects go through the priest's step."""

    def __init__(self, priest: Priest, ballot: Ballot) -> None:
        self.priest = priest
        self.ballot = ballot
        self.phase = PREPARING
        self.from_n = priest.law.known
        self.promises: dict[int, LastVote] = {}
        self.proposals: dict[int, Proposal] = {}
        self.next_n = 0
        self.queue: deque[Decree] = deque()
        self.queue_bytes = 0                   # bodies of the queued decrees
        self.flight_bytes = 0                  # bodies of the proposals
        self.in_flight_ids: set[str] = set()
        self.reply_to: dict[str, str] = {}     # queued petition id -> its citizen
        self.sent = priest.now
        self.heard = priest.now
        self.unannounced: list[Entry] = []   # passed here, not yet told to the others
        #: of those, who voted for each (they are told its number, not its decree)
        self.voters_of: dict[int, set[int]] = {}
        #: seat -> when it last answered this president (a running count, not a clock):
        #: a thrifty president asks the quickest, those that answered last
        self.answered: dict[int, int] = {}
        self.answers = 0

    @property
    def active(self) -> bool:
        return self.phase == ACTIVE

    # ------------------------------------------------------------ phase one

    def prepare(self) -> None:
        """Step 1: send next ballot for every decree number from ``from_n``."""
        p = self.priest
        self.sent = p.now
        self.priest.broadcast(NextBallot(p.seat, self.ballot, p.law.known, self.from_n))

    def receive(self, m: Message) -> None:
        if m.ballot != self.ballot:
            return
        self.answers += 1
        self.answered[m.sender] = self.answers
        if isinstance(m, LastVote):
            self.handle_last_vote(m)
        elif isinstance(m, Voted):
            self.handle_voted(m)
        elif isinstance(m, VoteNo):
            self.handle_vote_no(m)

    def handle_last_vote(self, m: LastVote) -> None:
        if self.phase != PREPARING or m.sender in self.promises:
            return
        self.promises[m.sender] = m
        if m.passed:
            self.priest.learn(m.passed)
        if self.priest.quorum.reached(self.promises) and self.phase == PREPARING:
            self.take_office()

    def choose(self) -> dict[int, Decree]:
        """Step 3 (B3): per decree number, the decree of the highest vote the quorum reported.

        Only numbers at or above ``start`` count: below it some priest of the
        quorum knows the decree passed, and we learn it rather than propose.
        """
        law = self.priest.law
        start = max([law.known] + [lv.known for lv in self.promises.values()])
        best: dict[int, tuple[Ballot, Decree]] = {}
        for lv in self.promises.values():
            for n, ballot, decree in lv.votes:
                if n >= start and (n not in best or ballot > best[n][0]):
                    best[n] = (ballot, decree)
        top = max(best, default=start - 1)
        self.next_n = max(top + 1, start, law.highest() + 1)
        return {
            n: best[n][1] if n in best else OLIVE_DAY
            for n in range(start, top + 1) if not law.is_passed(n)
        }

    def take_office(self) -> None:
        self.phase = ACTIVE
        now = self.priest.now
        for n, decree in self.choose().items():
            self.proposals[n] = Proposal(decree, now)
            self.flight_bytes += len(decree.body)
            if not decree.is_olive_day:
                self.in_flight_ids.add(decree.petition)
        self._begin(sorted((n, p.decree) for n, p in self.proposals.items()))
        self.fill()

    # ------------------------------------------------------------ phase two

    def enqueue(self, decrees: Iterable[Decree], replies: Mapping[str, str] | None = None) -> None:
        """Queue petitions; ``replies`` maps a petition id to its citizen, for receipts."""
        for decree in decrees:
            pid = decree.petition
            if pid not in self.in_flight_ids:
                self.in_flight_ids.add(pid)
                self.queue.append(decree)
                self.queue_bytes += len(decree.body)
                if replies and pid in replies:
                    self.reply_to[pid] = replies[pid]
        if self.phase == ACTIVE:
            self.fill()

    @property
    def backlog(self) -> bool:
        """More petitions wait than the window would take: read no more for now."""
        rules = self.priest.rules
        return len(self.queue) >= rules.window or self.queue_bytes >= rules.window_bytes

    def fill(self) -> None:
        """Propose queued decrees while the window has room (in numbers and in bytes)."""
        law, batch, receipt = self.priest.law, [], None
        rules = self.priest.rules
        room = rules.window - len(self.proposals)
        while self.queue and room > 0 and (self.flight_bytes < rules.window_bytes
                                           or not self.proposals):
            while law.is_passed(self.next_n) or self.next_n in self.proposals:
                self.next_n += 1
            n, decree = self.next_n, self.queue.popleft()
            self.next_n += 1
            size = len(decree.body)
            self.queue_bytes -= size
            self.flight_bytes += size
            proposal = self.proposals[n] = Proposal(decree, self.priest.now)
            citizen = self.reply_to.pop(decree.petition, None) if self.reply_to else None
            if citizen is not None and n == law.known and law.is_first(n, decree.petition):
                proposal.citizen = citizen          # n == known: the first of this batch
                receipt = (n, citizen)
            batch.append((n, decree))
            room -= 1
        self._begin(batch, receipt=receipt)

    def _begin(self, entries: list[Entry], seats: Iterable[int] | None = None,
               receipt: tuple[int, str] | None = None) -> None:
        """Begin ballot for ``entries`` (sorted), in chunks; ``receipt`` goes with the
        chunk whose first entry it names."""
        p = self.priest
        for part in p.rules.chunks(entries, body_bytes):
            chunk = tuple(part)
            named = receipt if receipt is not None and chunk[0][0] == receipt[0] else None
            message = BeginBallot(p.seat, self.ballot, p.law.known, chunk, named)
            for seat in self.asked() if seats is None else seats:
                p.send(seat, message)

    def asked(self) -> Iterable[int]:
        """Who gets a new begin ballot: everyone, or, thrifty, a bare majority (the paper's
        quorum): this priest and the others that answered it last.  A priest left out
        learns the decrees when they are announced; if one asked is slow to vote, the
        resend after ``resend_ticks`` goes to every priest that has not voted."""
        p = self.priest
        if not p.rules.thrifty:
            return p.quorum.members()
        others = sorted((s for s in p.quorum.members() if s != p.seat),
                        key=lambda s: self.answered.get(s, 0), reverse=True)
        return [p.seat, *others[: p.quorum.size - 1]]

    def handle_voted(self, m: Voted) -> None:
        """Step 5: with votes from a majority a decree is passed; tell every priest."""
        if self.phase != ACTIVE:
            return
        quorum, passed = self.priest.quorum, []
        if not 0 <= m.sender < quorum.seats:
            return
        size, sender = quorum.size, m.sender      # voters hold only seats: count them
        for n in m.numbers:
            proposal = self.proposals.get(n)
            if proposal is None:
                continue
            voters = proposal.voters
            if sender not in voters:
                voters.add(sender)
                if len(voters) == size:             # exactly now: passed once, not again
                    passed.append((n, proposal.decree))
                    self.voters_of[n] = voters
        if passed:
            self.priest.learn(passed)       # removes them from proposals via on_learned
            self.unannounced += passed
            if len(self.unannounced) >= self.priest.rules.announce:
                self._announce()
        self.fill()

    def _announce(self) -> None:
        """Tell the other priests every decree passed since the last announcement (none:
        a heartbeat).  A priest that voted for a decree is told its number only; priests
        told alike share each message."""
        p = self.priest
        passed, self.unannounced = self.unannounced, []
        voters_of, self.voters_of = self.voters_of, {}
        told: dict[tuple[int, ...], list[int]] = {}       # numbers given without decree -> seats
        for seat in p.quorum.members():
            if seat != p.seat:
                told.setdefault(tuple(n for n, _ in passed if seat in voters_of.get(n, ())),
                                []).append(seat)
        known, rules = p.law.known, p.rules
        for numbers, seats in told.items():
            skip = set(numbers)
            full = [entry for entry in passed if entry[0] not in skip]
            messages = [SuccessfulBallot(p.seat, self.ballot, known, tuple(chunk))
                        for chunk in rules.chunks(full, body_bytes)]
            for i in range(0, len(numbers), rules.batch):
                messages.append(SuccessfulBallot(p.seat, self.ballot, known, (),
                                                 numbers[i : i + rules.batch]))
            for message in messages or [SuccessfulBallot(p.seat, self.ballot, known, ())]:
                for seat in seats:                        # the last one: a heartbeat
                    p.send(seat, message)
        self.sent = p.now

    def on_learned(self, entries: list[Entry]) -> None:
        """Decrees passed: stop proposing them; a petition that lost its number goes again."""
        for n, decree in entries:
            proposal = self.proposals.pop(n, None)
            self.in_flight_ids.discard(decree.petition)
            if proposal is None:
                continue
            self.flight_bytes -= len(proposal.decree.body)
            if proposal.decree != decree and not proposal.decree.is_olive_day:
                self.queue.appendleft(proposal.decree)
                self.queue_bytes += len(proposal.decree.body)
                self.in_flight_ids.add(proposal.decree.petition)

    def handle_vote_no(self, m: VoteNo) -> None:
        """A priest promised a higher ballot: abandon ours, retry later unless someone leads."""
        if m.promise <= self.ballot or self.phase == DEPOSED:
            return
        self.phase = DEPOSED
        self.heard = self.priest.now
        p = self.priest
        p.broadcast(FailedBallot(p.seat, self.ballot, p.law.known), others_only=True)

    # ------------------------------------------------------------ time

    def tick(self) -> None:
        p, rules = self.priest, self.priest.rules
        if self.phase == DEPOSED:
            if p.now - self.heard >= rules.retry_ticks * (p.seat + 1):
                p.start_ballot_now()
            return
        if self.phase == PREPARING:
            if p.now - self.sent < rules.resend_ticks:
                return
            self.sent = p.now
            missing = [s for s in p.quorum.members() if s not in self.promises]
            for seat in missing:
                p.send(seat, NextBallot(p.seat, self.ballot, p.law.known, self.from_n))
            return
        self._resend_stale()

    def _resend_stale(self) -> None:
        """Resend begin ballot to priests that have not voted; idle, send a heartbeat."""
        p = self.priest
        stale = sorted((n, prop) for n, prop in self.proposals.items()
                       if p.now - prop.sent >= p.rules.resend_ticks)
        receipt = next(((n, prop.citizen) for n, prop in stale if prop.citizen), None)
        for seat in p.quorum.members():
            entries = [(n, prop.decree) for n, prop in stale if seat not in prop.voters]
            self._begin(entries, seats=[seat], receipt=receipt)
        for _, prop in stale:
            prop.sent = p.now
        since = p.now - self.sent
        if (self.unannounced and since >= p.rules.announce_ticks) \
                or since >= max(1, p.rules.president_ticks // 2):
            self._announce()                # passed decrees, or a heartbeat: we still preside
        self.fill()

    def drain(self) -> tuple[Decree, ...]:
        """Hand over petitions not yet proposed (on resigning)."""
        queued = tuple(self.queue)
        self.queue.clear()
        self.queue_bytes = 0
        self.reply_to.clear()
        return queued
