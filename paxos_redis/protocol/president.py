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

Membership.  Votes for decree ``n`` count in the membership the law sets for ``n``
(:mod:`.membership`): a president proposes ``n`` only once a majority of that
membership has promised its ballot, and counts ``n`` passed once a majority of it
voted.  The law below ``known`` fixes the membership of every number below
``known + alpha``, so a president proposes nothing beyond; a change of membership
brings new priests into range, and the president asks them for promises then.

Receipts.  When a petition takes the lowest decree number this president does not
know passed, and its law does not hold the petition, that number is where the law
will apply it if it passes at all: every lower number is passed and holds other
decrees.  The begin ballot then names the citizen (``receipt``), each voter tells the
citizen its vote, and a majority of those receipts answers the citizen one hop
sooner than the president could.  A sequential citizen's petitions always qualify.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from paxos_redis.protocol.ballot import Ballot
from paxos_redis.protocol.decree import OLIVE_DAY, Decree
from paxos_redis.protocol.law import Law
from paxos_redis.protocol.messages import (
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
from paxos_redis.protocol.rules import Rules


class Priest(Protocol):
    """What a president uses of the priest it serves (:class:`~paxos_redis.protocol.priest.Priest`
    is the one that does): its law, its rules, its clock and its messengers."""

    id: int
    law: Law
    rules: Rules
    now: int
    told: dict[int, tuple[int, int, int]]

    def send(self, priest: int, message: Message) -> None: ...

    def broadcast(self, message: Message, *, others_only: bool = False) -> None: ...

    def members_ahead(self) -> frozenset[int]: ...

    def learn(self, entries: tuple[tuple[int, Decree], ...] | list[tuple[int, Decree]]) -> None: ...

    def new_ballot(self) -> None: ...

    def vouch(self, petition: str) -> None: ...

PREPARING, ACTIVE, DEPOSED = "preparing", "active", "deposed"


@dataclass(slots=True)
class Proposal:
    """One decree number in flight: the decree proposed, the members whose votes count for
    it, how many make a majority of them, and who of them voted."""

    decree: Decree
    sent: int
    members: frozenset[int]
    need: int
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
        #: per decree number, the highest vote the promises reported (B3), and the highest
        #: number with one: gaps below it get the olive-day decree
        self.best: dict[int, tuple[Ballot, Decree]] = {}
        self.top = -1
        #: numbers below this are known passed by some priest that promised: learned, not
        #: proposed
        self.start = priest.law.known
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
        #: priest -> when it last answered this president (a running count, not a clock):
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
        self.priest.broadcast(NextBallot(p.id, self.ballot, p.law.known, self.from_n))

    def prepared(self, n: int) -> frozenset[int] | None:
        """The members governing ``n``, if a majority of them promised this ballot."""
        members = self.priest.law.members_at(n)
        if members is None:
            return None
        promised = sum(1 for m in members if m in self.promises)
        return members if promised >= len(members) // 2 + 1 else None

    def unpromised(self) -> list[int]:
        """Members of a membership in range who have not promised (asked again on ticks)."""
        return [m for m in sorted(self.priest.members_ahead()) if m not in self.promises]

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
        if self.phase == DEPOSED or m.sender in self.promises:
            return
        self.promises[m.sender] = m
        self.start = max(self.start, m.known)
        self.note_votes(m)
        if m.passed:
            self.priest.learn(m.passed)
        if self.phase == PREPARING:
            if self.prepared(max(self.start, self.priest.law.known)) is not None:
                self.take_office()
        else:
            self.fill()                    # a membership newly in range may be prepared now

    def note_votes(self, m: LastVote) -> None:
        """Step 3 (B3), as promises come: per decree number, the highest vote reported.

        Votes below ``start`` do not count: there some priest that promised knows the
        decree passed, and we learn it rather than propose.  Every president proposes
        ``n`` only once a majority of ``n``'s members promised (:meth:`prepared`), so
        the highest vote among those is in ``best`` by then; votes reported later by
        others only add to what B3 already allows."""
        best, floor = self.best, self.start
        if self.phase == ACTIVE:                   # numbers proposed already stay as they are
            floor = max(floor, self.next_n)
        for n, ballot, decree in m.votes:
            if n >= floor and n not in self.proposals and (n not in best or ballot > best[n][0]):
                best[n] = (ballot, decree)
                self.top = max(self.top, n)

    def choose(self, n: int) -> Decree | None:
        """The decree B3 requires at ``n``, if any: the highest vote reported there, or the
        olive-day decree in a gap below the highest number with a vote."""
        got = self.best.pop(n, None)
        if got is not None:
            return got[1]
        return OLIVE_DAY if n <= self.top else None

    def take_office(self) -> None:
        self.phase = ACTIVE
        law = self.priest.law
        self.next_n = max(self.start, law.known)
        for n in [n for n in self.best if n < self.next_n or law.is_passed(n)]:
            del self.best[n]
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
        """Propose while the window has room (in numbers and in bytes), at numbers whose
        members promised: first what B3 requires, then queued petitions, then olive-day
        decrees up to where a change of membership takes effect (so that it does)."""
        law, batch, receipt = self.priest.law, [], None
        rules = self.priest.rules
        room = rules.window - len(self.proposals)
        members: frozenset[int] | None = None
        until = 0
        # below ``start`` a priest that promised knows every decree passed, and may have
        # forgotten its votes there: those numbers are learned, never proposed
        self.next_n = max(self.next_n, self.start)
        while room > 0 and (self.flight_bytes < rules.window_bytes or not self.proposals):
            while law.is_passed(self.next_n) or self.next_n in self.proposals:
                self.next_n += 1
            n = self.next_n
            if members is None or n >= until:
                members = self.prepared(n)
                if members is None:
                    break
                until = law.members.until(n, law.known)
            decree = self.choose(n)
            if decree is None and self.queue:
                decree = self.queue.popleft()
                self.queue_bytes -= len(decree.body)
                citizen = self.reply_to.pop(decree.petition, None) if self.reply_to else None
            else:
                citizen = None
                if decree is None and n < law.members.pending_until:
                    decree = OLIVE_DAY
                elif decree is None:
                    break
            self.next_n += 1
            self.flight_bytes += len(decree.body)
            if not decree.is_olive_day:
                self.in_flight_ids.add(decree.petition)
            proposal = self.proposals[n] = Proposal(decree, self.priest.now, members,
                                                    len(members) // 2 + 1)
            if citizen is not None and n == law.known and law.is_first(n, decree.petition):
                proposal.citizen = citizen          # n == known: the first of this batch
                receipt = (n, citizen, len(members))
            batch.append((n, decree))
            room -= 1
        self._begin(batch, receipt=receipt)

    def _begin(self, entries: list[Entry], to: Sequence[int] | None = None,
               receipt: tuple[int, str, int] | None = None) -> None:
        """Begin ballot for ``entries`` (sorted), in chunks of one membership each;
        ``receipt`` goes with the chunk whose first entry it names.  Sent to another
        priest, that chunk vouches for its petition: the runtime leaves the answer to the
        voters' receipts (a begin ballot this priest only sends itself never leaves it)."""
        p = self.priest
        i = 0
        while i < len(entries):
            members = self.proposals[entries[i][0]].members
            j = i + 1
            while j < len(entries) and self.proposals[entries[j][0]].members is members:
                j += 1
            for part in p.rules.chunks(entries[i:j], body_bytes):
                chunk = tuple(part)
                named = receipt if receipt is not None and chunk[0][0] == receipt[0] else None
                message = BeginBallot(p.id, self.ballot, p.law.known, chunk, named)
                recipients = self.asked(members) if to is None else to
                for priest in recipients:
                    p.send(priest, message)
                if named is not None and any(priest != p.id for priest in recipients):
                    p.vouch(chunk[0][1].petition)
            i = j

    def asked(self, members: frozenset[int]) -> Sequence[int]:
        """Who gets a new begin ballot: every member, or, thrifty, a bare majority (the
        paper's quorum): this priest if it is a member, and the others that answered it
        last.  A priest left out learns the decrees when they are announced; if one asked
        is slow to vote, the resend after ``resend_ticks`` goes to every member that has
        not voted."""
        p = self.priest
        if not p.rules.thrifty:
            return sorted(members)
        need = len(members) // 2 + 1
        mine = [p.id] if p.id in members else []
        others = sorted((s for s in members if s != p.id),
                        key=lambda s: (self.answered.get(s, 0), s), reverse=True)
        return [*mine, *others[: need - len(mine)]]

    def handle_voted(self, m: Voted) -> None:
        """Step 5: with votes from a majority of a decree's members it is passed; tell every
        priest."""
        if self.phase != ACTIVE:
            return
        passed = []
        sender = m.sender
        for n in m.numbers:
            proposal = self.proposals.get(n)
            if proposal is None or sender not in proposal.members:
                continue
            voters = proposal.voters
            if sender not in voters:
                voters.add(sender)
                if len(voters) == proposal.need:    # exactly now: passed once, not again
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
        told: dict[tuple[int, ...], list[int]] = {}   # numbers given without decree -> priests
        for priest in sorted(p.members_ahead() | self.listeners()):
            if priest != p.id:
                told.setdefault(tuple(n for n, _ in passed if priest in voters_of.get(n, ())),
                                []).append(priest)
        known, rules = p.law.known, p.rules
        for numbers, priests in told.items():
            skip = set(numbers)
            full = [entry for entry in passed if entry[0] not in skip]
            messages = [SuccessfulBallot(p.id, self.ballot, known, tuple(chunk))
                        for chunk in rules.chunks(full, body_bytes)]
            for i in range(0, len(numbers), rules.batch):
                messages.append(SuccessfulBallot(p.id, self.ballot, known, (),
                                                 numbers[i : i + rules.batch]))
            for message in messages or [SuccessfulBallot(p.id, self.ballot, known, ())]:
                for priest in priests:                    # the last one: a heartbeat
                    p.send(priest, message)
        self.sent = p.now

    def listeners(self) -> frozenset[int]:
        """Priests that asked for law lately (a listener catching up): told the news too."""
        p = self.priest
        horizon = p.now - 4 * p.rules.president_ticks
        return frozenset(who for who, told in p.told.items() if told[0] >= horizon)

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
        p.broadcast(FailedBallot(p.id, self.ballot, p.law.known), others_only=True)

    # ------------------------------------------------------------ time

    def tick(self) -> None:
        p, rules = self.priest, self.priest.rules
        if self.phase == DEPOSED:
            members = sorted(p.members_ahead())
            rank = members.index(p.id) if p.id in members else len(members)
            if p.now - self.heard >= rules.retry_ticks * (rank + 1):
                p.new_ballot()
            return
        if p.now - self.sent >= rules.resend_ticks and (
                self.phase == PREPARING or self.prepared(self.next_n) is None):
            self.sent = p.now              # promises missing: ask those who have not given one
            for priest in self.unpromised():
                p.send(priest, NextBallot(p.id, self.ballot, p.law.known, self.from_n))
        if self.phase == ACTIVE:
            self._resend_stale()

    def _resend_stale(self) -> None:
        """Resend begin ballot to priests that have not voted; idle, send a heartbeat."""
        p = self.priest
        stale = sorted((n, prop) for n, prop in self.proposals.items()
                       if p.now - prop.sent >= p.rules.resend_ticks)
        receipt = next(((n, prop.citizen, len(prop.members)) for n, prop in stale
                        if prop.citizen), None)
        for priest in sorted(p.members_ahead()):
            entries = [(n, prop.decree) for n, prop in stale
                       if priest in prop.members and priest not in prop.voters]
            self._begin(entries, to=[priest], receipt=receipt)
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
