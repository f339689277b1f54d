"""The priest: acceptor and learner of the Synod, and host of a president when it leads.

State, as in the paper (all of it rebuilt from the ledger on restart):

``next_bal``   the highest ballot the priest promised to take part in (its promise)
``prev_vote``  per decree number, the priest's vote with the highest ballot (``votes``)
``last_tried`` the highest ballot the priest started as president (keeps B1)
``law``        the decrees the priest knows were passed (the recent ones in memory, the
               rest in the archive the runtime hands in: see :mod:`.law`), and with them
               the membership: who votes for which decree numbers (:mod:`.membership`)

A priest is named by its identity (``id``), drawn when its ledger was made.  Every
priest acts as acceptor whatever the membership says (a vote nobody counts is
harmless); only a president decides whose votes count, for each decree number by
the membership the law sets for it.

A priest answers *next ballot* with *last vote* only after its promise is in the
step's records, and *begin ballot* with *voted* only after its vote is: the
runtime makes the records durable before it sends (persist, then send).

What a priest admits is decided here too: a president's message must be at a ballot
its sender owns, and a priest never votes for a decree over its ``max_decree_bytes``
(:meth:`Priest.receive` refuses such a message, changing nothing); a citizen's petition
is refused, answered from the law, or proposed (:meth:`Priest.triage`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from paxos_redis.errors import ProtocolError, Refused
from paxos_redis.protocol.ballot import ZERO, Ballot
from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.effects import Answer, Effects, Receipt
from paxos_redis.protocol.law import Archive, Law
from paxos_redis.protocol.membership import RESERVED, Change, Founding
from paxos_redis.protocol.membership import name as priest_name
from paxos_redis.protocol.messages import (
    BY_CODE,
    BeginBallot,
    Entry,
    FailedBallot,
    Inquiry,
    LastVote,
    Message,
    NextBallot,
    Petition,
    SuccessfulBallot,
    Transcript,
    Voted,
    VoteNo,
    body_bytes,
)
from paxos_redis.protocol.president import President
from paxos_redis.protocol.records import Archived, Identity, Members, Passed, Promise, Record, Tried, Votes
from paxos_redis.protocol.rules import MAX_DECREE_BYTES, Rules

#: the messages only a president sends, each at a ballot it owns (see :meth:`Priest.receive`)
FROM_PRESIDENT: frozenset[type] = frozenset(cls for (role, _), cls in BY_CODE.items()
                                            if role == "president")


class Priest:
    """One priest of the Parliament: a pure state machine stepped by messages and ticks."""

    president_class: type[President] = President

    def __init__(self, identity: Identity, rules: Rules | None = None, *,
                 max_decree_bytes: int = MAX_DECREE_BYTES) -> None:
        if not 0 < identity.priest < 2**63:
            raise ProtocolError(f"identity {identity.priest} is out of range")
        self.parliament = identity.parliament
        self.id = identity.priest
        #: the largest decree body this priest votes for or takes as a petition
        self.max_decree_bytes = max_decree_bytes
        #: promises, votes and ballots tried written so far (durable once the step's records
        #: are): the priest's stamp.  A ledger restored from an old copy has a lower one
        #: than the priest showed before, which the runtime checks (see identity.py)
        self.stamp = identity.stamp
        self.rules = rules or Rules()
        self.next_bal: Ballot = ZERO
        self.last_tried: Ballot = ZERO
        self.votes: dict[int, tuple[Ballot, Decree]] = {}
        self.law = Law(memory=self.rules.law_memory, dedup=self.rules.dedup_window,
                       memory_bytes=self.rules.law_memory_bytes)
        self.highest_seen: Ballot = ZERO
        self.president: President | None = None
        self.hint: int | None = None          # the priest we believe is president
        self.hint_tick = 0
        self.now = 0                          # ticks seen: logical time, no clock
        self.ahead: tuple[int, int] | None = None   # (id, its known) of a priest ahead of us
        #: (known, tick): the law we saw the priest ahead know, and since when we wait for
        #: it; we ask for it only if the announcements do not bring it in time
        self.awaited: tuple[int, int] | None = None
        self.inquiry_tick = -(10**9)
        #: priest -> (tick, start, stop): the transcript last sent it, of decrees start..stop-1
        self.told: dict[int, tuple[int, int, int]] = {}
        self._local: list[Message] = []
        self._effects: Effects | None = None

    # ------------------------------------------------------------ restore from the ledger

    @classmethod
    def restore(cls, records: Iterable[Record], rules: Rules | None = None,
                archive: Archive | None = None, *,
                max_decree_bytes: int = MAX_DECREE_BYTES) -> Priest:
        """Rebuild a priest from its ledger records (the first must be its Identity) and, if
        the ledger was compacted, the ``archive`` holding the law it no longer does (with
        the membership its Members record says that law decided)."""
        records = list(records)
        first = records[0] if records else None
        if not isinstance(first, Identity):
            raise ProtocolError(f"a ledger must begin with its Identity record, found {first!r}")
        priest = cls(first, rules, max_decree_bytes=max_decree_bytes)
        if archive is not None:
            snap = next((r for r in records if isinstance(r, Members)), None)
            priest.law.resume(archive, None if snap is None else (snap.at, snap.membership))
        for record in records[1:]:
            priest._replay(record)
        priest.highest_seen = max(priest.next_bal, priest.last_tried)
        return priest

    def _replay(self, record: Record) -> None:
        if isinstance(record, (Promise, Votes, Tried)):
            self.stamp += 1
        if isinstance(record, Promise):
            self.next_bal = max(self.next_bal, record.ballot)
        elif isinstance(record, Votes):
            self.next_bal = max(self.next_bal, record.ballot)
            self._note_votes(record.ballot, record.entries)
        elif isinstance(record, Passed):
            self.law.learn(record.entries)
            self._forget_votes_below_known()
        elif isinstance(record, Tried):
            self.last_tried = max(self.last_tried, record.ballot)
        elif isinstance(record, Archived):
            if record.upto > self.law.known:
                raise ProtocolError(
                    f"the ledger says the law below decree {record.upto} is archived, but the "
                    f"archive given ends at {self.law.known}: the law file is missing or cut "
                    "short; restore it from a backup before restarting this priest")
        elif isinstance(record, Identity):
            raise ProtocolError("a ledger holds one Identity record, at its start; found another")

    # ------------------------------------------------------------ inputs

    def receive(self, message: Message) -> Effects:
        """Handle one message from the messenger, if this priest admits it: a president's
        message must be at a ballot its sender owns (B1: a ballot is its priest's alone),
        and a begin ballot must not ask for a vote on a decree over this priest's
        ``max_decree_bytes`` (a priest never votes for one).  One it refuses raises
        :class:`~paxos_redis.errors.Refused` and changes nothing: the runtime dead-letters it."""
        if type(message) in FROM_PRESIDENT:
            self._admit(message)
        return self._run(lambda: self._dispatch(message))

    def _admit(self, message: Message) -> None:
        """Raise :class:`Refused` for a president's message :meth:`receive` does not admit."""
        if message.ballot.priest != message.sender:
            raise Refused(f"ballot {message.ballot} is not {priest_name(message.sender)}'s")
        if type(message) is BeginBallot:
            limit = self.max_decree_bytes
            for n, decree in message.entries:
                if len(decree.body) > limit:
                    raise Refused(f"begin ballot {message.ballot} asks for a vote on decree {n} "
                                  f"of {len(decree.body)} bytes, over this priest's limit of "
                                  f"{limit}")

    def tick(self) -> Effects:
        """One tick of the worker's clock: resend, inquire, retry."""
        return self._run(self._on_tick)

    def triage(self, decree: Decree) -> Answer | None:
        """A citizen's petition, before it is proposed (:meth:`petition`): refused if its
        body is over this priest's ``max_decree_bytes`` or its id is one the parliament
        keeps for its own decrees (:func:`.membership.is_membership`); answered with the
        number where it first passed if the law holds it (a retry, applied once);
        ``None``: petition it.  (Once per petition in the worker's loop: kept lean.)"""
        pid = decree.petition
        if len(decree.body) > self.max_decree_bytes:
            return Answer(pid, error=f"decree of {len(decree.body)} bytes is over the limit "
                                     f"of {self.max_decree_bytes} bytes")
        if pid.startswith(RESERVED):                     # is_membership(pid), inlined
            return Answer(pid, error=f"petition id {pid[:40]!r}: ids starting with '!found:' "
                                     "or '!members:' are the parliament's own (membership is "
                                     "changed with paxos-redis members)")
        first = self.law.first_of.get(pid)
        return None if first is None else Answer(pid, n=first)

    def petition(self, decrees: Iterable[Decree], replies: Mapping[str, str] | None = None
                 ) -> Effects:
        """Citizens' decrees arrive here (those :meth:`triage` lets through): proposed if we
        preside, else sent to the president.  ``replies`` maps petition ids to their
        citizens, who may then get receipts."""
        return self._run(lambda: self._on_petition(tuple(decrees), forwarded=False,
                                                   replies=replies))

    def start_ballot(self) -> Effects:
        """Become president: pick a ballot above every one seen (B1), write it, send next ballot
        (nothing, while this priest knows no membership to count votes in)."""
        return self._run(self.new_ballot)

    def found(self, decree: Decree) -> Effects:
        """God's founding reaches a priest that knows no law yet: decree 0 is law by definition
        (there is one founding per parliament: see the runtime's god), so it is entered as
        passed.  A priest that knows decree 0 already gains nothing (and a different one is
        a :class:`~.law.LawConflict`)."""
        Founding.parse(decree)
        return self._run(lambda: self.learn([(0, decree)]))

    def hear_of(self, priest: int, known: int) -> Effects:
        """The runtime saw ``priest`` (alive) know the law below ``known``: a priest that
        receives no Synod message (a listener, a newcomer) learns of law to fetch this way."""
        def note() -> None:
            if known > self.law.known and priest != self.id:
                if self.ahead is None or known >= self.ahead[1]:
                    self.ahead = (priest, known)
                self._inquire()
        return self._run(note)

    def propose(self, change: Change, nonce: str) -> Effects:
        """A membership change to pass, if we preside (else nothing: the caller asks the
        president).  The law decides whether it takes effect (:mod:`.membership`)."""
        def propose() -> None:
            if self.is_president:
                assert self.president is not None
                self.president.enqueue([change.decree(nonce)])
        return self._run(propose)

    # ------------------------------------------------------------ step machinery

    def _run(self, action: Callable[[], None]) -> Effects:
        self._effects = Effects()
        try:
            action()
            while self._local:                 # messages to ourselves never leave the process
                self._dispatch(self._local.pop(0))
            return self._effects
        finally:
            self._effects = None

    @property
    def effects(self) -> Effects:
        assert self._effects is not None, "effects are only available inside a step"
        return self._effects

    def write(self, record: Record) -> None:
        if type(record) is not Passed:
            self.stamp += 1
        self.effects.records.append(record)

    def send(self, priest: int, message: Message) -> None:
        if priest == self.id:
            self._local.append(message)
        else:
            self.effects.messages.append((priest, message))

    def vouch(self, petition: str) -> None:
        """Inside a step: a begin ballot sent to other priests asks its voters for receipts
        for ``petition`` (:attr:`Effects.vouched`, once however many copies are sent)."""
        effects = self.effects
        if petition not in effects.vouched:
            effects.vouched += (petition,)

    def members_ahead(self) -> frozenset[int]:
        """Every member of a membership governing a decree number this priest may act on."""
        return self.law.members.ahead(self.law.known)

    def broadcast(self, message: Message, *, others_only: bool = False) -> None:
        for priest in sorted(self.members_ahead()):
            if not (others_only and priest == self.id):
                self.send(priest, message)

    def _dispatch(self, message: Message) -> None:
        name = self._HANDLERS.get(type(message))
        if name is None:
            raise ProtocolError(f"no handler for {type(message).__name__}")
        self._observe(message)
        getattr(self, name)(message)

    def _observe(self, message: Message) -> None:
        """Every message tells us its sender's ballot and how much law it knows."""
        self.highest_seen = max(self.highest_seen, message.ballot)
        if isinstance(message, VoteNo) and message.promise > self.highest_seen:
            self.highest_seen = message.promise
        if message.known > self.law.known and message.sender != self.id:
            if self.ahead is None or message.known >= self.ahead[1]:
                self.ahead = (message.sender, message.known)
            self._inquire()

    def _inquire(self) -> None:
        """Ask a priest that knows more law for the decrees we missed: only once the law we
        saw it know has not reached us for ``patience`` ticks (a priest merely behind by
        the decrees in flight learns them from the announcements), and at most once every
        ``inquiry_ticks``."""
        ahead, known = self.ahead, self.law.known
        if ahead is None:
            return
        if ahead[1] <= known:
            self.ahead = self.awaited = None
            return
        if self.awaited is None or self.awaited[0] <= known:
            self.awaited = (ahead[1], self.now)
        if self.now - self.awaited[1] < self.patience or \
                self.now - self.inquiry_tick < self.rules.inquiry_ticks:
            return
        self.inquiry_tick = self.now
        self.send(ahead[0], Inquiry(self.id, known))

    @property
    def patience(self) -> int:
        """Ticks a priest behind waits for the announcements before it asks: the longest a
        president holds an announcement back, and one inquiry interval more."""
        return self.rules.announce_ticks + self.rules.inquiry_ticks

    # ------------------------------------------------------------ the Synod, priest's side

    def handle_next_ballot(self, m: NextBallot) -> None:
        """Step 2: promise ``b`` if it is not below ``next_bal``; answer with last vote."""
        if m.ballot < self.next_bal:
            self.send(m.sender, VoteNo(self.id, m.ballot, self.law.known, self.next_bal))
            return
        if m.ballot > self.next_bal:
            self.promise(m.ballot)
        self._follow(m)
        floor = max(m.from_n, self.law.known)
        votes = tuple((n, b, d) for n, (b, d) in sorted(self.votes.items()) if n >= floor)
        passed = self._passed_from(m.from_n) if m.from_n < self.law.known else ()
        self.send(m.sender, LastVote(self.id, m.ballot, self.law.known, m.from_n, votes, passed))

    def promise(self, ballot: Ballot) -> None:
        """Write the promise ``next_bal`` in the ledger (the seed's 'promise after lastvote')."""
        self.next_bal = ballot
        self.write(Promise(ballot))

    def handle_begin_ballot(self, m: BeginBallot) -> None:
        """Step 4: vote for each decree unless a higher ballot was promised."""
        if m.ballot < self.next_bal:
            self.send(m.sender, VoteNo(self.id, m.ballot, self.law.known, self.next_bal))
            return
        if not m.entries:
            return
        self._follow(m)
        law = self.law
        # never vote at a number where another decree is known to have passed
        entries = tuple(e for e in m.entries if (d := law.get(e[0])) is None or d == e[1])
        if not entries:
            return
        votes = self.votes
        new = tuple(e for e in entries if votes.get(e[0]) != (m.ballot, e[1]))
        if new:                                # a resent begin ballot: its votes are written
            self.next_bal = m.ballot           # the Votes record carries the new promise
            self.write(Votes(m.ballot, new))
            self._note_votes(m.ballot, new)
        numbers = tuple(n for n, _ in entries)
        self.send(m.sender, Voted(self.id, m.ballot, self.law.known, numbers))
        if m.receipt is not None and m.receipt[0] == numbers[0]:
            n, citizen, of = m.receipt
            self.effects.receipts.append(Receipt(citizen, self.id, of, m.ballot,
                                                 n, m.entries[0][1].petition))

    def handle_successful_ballot(self, m: SuccessfulBallot) -> None:
        """Step 5 (learner): enter passed decrees in the ledger (those named by number only
        from our votes at that ballot; one we no longer hold is asked for as a gap)."""
        if m.ballot >= self.next_bal:
            self._follow(m)
        entries = m.entries
        if m.voted:
            votes, ballot = self.votes, m.ballot
            mine = [(n, votes[n][1]) for n in m.voted if n in votes and votes[n][0] == ballot]
            entries = (*entries, *mine)
        self.learn(entries)

    def handle_failed_ballot(self, m: FailedBallot) -> None:
        """The president abandoned its ballot: stop taking it for the president."""
        if self.hint == m.sender:
            self.hint = None

    def to_president(self, m: Message) -> None:
        if self.president is not None:
            self.president.receive(m)

    # ------------------------------------------------------------ clerks' traffic

    def handle_inquiry(self, m: Inquiry) -> None:
        """Send the decrees the inquirer lacks, one message's worth; not again while the
        last transcript sent it, which covers what it asks, is under ``inquiry_ticks`` old
        (a priest slow to read finds an inquirer's repeats piled up in its inbox, and
        would otherwise send the same transcript for each)."""
        told = self.told.get(m.sender)
        if told is not None and told[1] <= m.known < told[2] and \
                self.now - told[0] < self.rules.inquiry_ticks:
            return
        entries = self._passed_from(m.known)
        if entries:
            self.told[m.sender] = (self.now, m.known, entries[-1][0] + 1)
            self.send(m.sender, Transcript(self.id, self.law.known, entries))

    def _passed_from(self, start: int) -> tuple[Entry, ...]:
        """Passed decrees from ``start``, as many as one message takes (``Rules.chunks``)."""
        entries = self.law.passed_from(start, self.rules.batch)
        return tuple(next(self.rules.chunks(entries, body_bytes), ()))

    def handle_transcript(self, m: Transcript) -> None:
        self.learn(m.entries)
        if self.law.known < m.known:           # more to fetch: ask again at once
            self.awaited = (m.known, -(10**9))
            self.inquiry_tick = -(10**9)
            self._inquire()

    def handle_petition(self, m: Petition) -> None:
        """Petitions another priest forwards: triaged here too, so a decree over this
        priest's limit or with a reserved id is never proposed whoever passed it on."""
        decrees = tuple(d for d in m.decrees if self.triage(d) is None)
        if decrees:
            self._on_petition(decrees, forwarded=True)

    # ------------------------------------------------------------ shared steps

    def learn(self, entries: tuple[tuple[int, Decree], ...] | list[tuple[int, Decree]]) -> None:
        """Enter passed decrees into the law and the ledger; apply them in order."""
        new, applied = self.law.learn(entries)
        if not new:
            return
        self.write(Passed(tuple(new)))
        self.effects.applied.extend(applied)
        self._forget_votes_below_known()
        if self.president is not None:
            self.president.on_learned(new)

    def _note_votes(self, ballot: Ballot, entries: Iterable[tuple[int, Decree]]) -> None:
        known = self.law.known
        for n, decree in entries:
            if n >= known:
                self.votes[n] = (ballot, decree)

    def _forget_votes_below_known(self) -> None:
        known = self.law.known
        if self.votes and min(self.votes) < known:
            for n in [n for n in self.votes if n < known]:
                del self.votes[n]

    def _follow(self, m: Message) -> None:
        """A president spoke at a ballot we accept: remember it, and resign if it outranks us."""
        self.hint, self.hint_tick = m.sender, self.now
        if self.president is not None and m.sender != self.id and m.ballot > self.president.ballot:
            self.resign(m.sender)

    def resign(self, successor: int | None) -> None:
        """Stop presiding; hand queued petitions to the ``successor`` if there is one."""
        president, self.president = self.president, None
        if president is None:
            return
        queued = president.drain()
        if queued and successor is not None and successor != self.id:
            self.send(successor, Petition(self.id, self.law.known, queued))

    def _on_petition(self, decrees: tuple[Decree, ...], *, forwarded: bool,
                     replies: Mapping[str, str] | None = None) -> None:
        leading = self.president is not None and self.president.phase != "deposed"
        if self.president is not None and (leading or self.hint in (None, self.id)):
            self.president.enqueue(decrees, replies)
        elif self.hint is not None and self.hint != self.id and not forwarded:
            self.send(self.hint, Petition(self.id, self.law.known, decrees))

    def new_ballot(self) -> None:
        """Inside a step (:meth:`start_ballot`, or a deposed president retrying): become
        president of a ballot above every one seen (B1), written before its next ballot."""
        if not self.law.members.founded:
            return
        ballot = max(self.last_tried, self.next_bal, self.highest_seen).successor(self.id)
        self.last_tried = ballot
        self.write(Tried(ballot))
        queued = self.president.drain() if self.president is not None else ()
        self.president = self.president_class(self, ballot)
        self.president.enqueue(queued)
        self.president.prepare()

    def _on_tick(self) -> None:
        self.now += 1
        if self.hint is not None and self.hint != self.id \
                and self.now - self.hint_tick > self.rules.president_ticks:
            self.hint = None
        if self.ahead is None and self.hint not in (None, self.id) \
                and self.law.highest() > self.law.known:
            self.ahead = (self.hint, self.law.highest() + 1)   # a hole: the president has it
        self._inquire()
        if self.president is not None:
            self.president.tick()

    # ------------------------------------------------------------ compaction

    def snapshot(self) -> list[Record]:
        """What a compacted ledger must hold, once the law below ``known`` is archived.

        The identity, the membership the archived law decided, the promise, the last
        ballot tried, the votes for undecided decree numbers and the decrees passed above
        a hole: replaying these over the archive
        rebuilds this priest exactly as replaying its whole ledger would (votes below
        ``known`` are forgotten on replay anyway).  Only valid between steps, when every
        record the priest produced is durable.
        """
        out: list[Record] = [Archived(self.law.known),
                             Members(self.law.known, self.law.members.copy())]
        if self.next_bal != ZERO:
            out.append(Promise(self.next_bal))
        if self.last_tried != ZERO:
            out.append(Tried(self.last_tried))
        by_ballot: dict[Ballot, list[tuple[int, Decree]]] = {}
        for n, (ballot, decree) in sorted(self.votes.items()):
            by_ballot.setdefault(ballot, []).append((n, decree))
        for ballot in sorted(by_ballot):
            out.append(Votes(ballot, tuple(by_ballot[ballot])))
        law = self.law
        if law.top >= law.known:                       # decrees passed above a hole
            out.append(Passed(tuple(sorted((n, d) for n, d in law.decrees.items()
                                           if n >= law.known))))
        counted = sum(1 for r in out if isinstance(r, (Promise, Votes, Tried)))
        return [Identity(self.parliament, self.id, self.stamp - counted), *out]

    # ------------------------------------------------------------ views for the runtime

    @property
    def is_president(self) -> bool:
        return self.president is not None and self.president.active

    def forgot(self, shown: int) -> bool:
        """This priest once showed stamp ``shown`` (it wrote that many promises, votes and
        ballots tried), and its ledger holds fewer: the ledger is an old copy, and the
        priest may have forgotten promises and votes.  It must not act as this priest."""
        return self.stamp < shown

    @property
    def role(self) -> str:
        """``voter`` (a member of the membership in force at ``known`` or about to be),
        ``listener`` (it learns, nobody counts its votes) or ``unfounded`` (it knows no
        founding yet)."""
        members = self.law.members
        if not members.founded:
            return "unfounded"
        return "voter" if self.id in self.members_ahead() else "listener"

    def status(self) -> dict[str, Any]:
        """A snapshot for heartbeats and the ``status`` table."""
        members = self.law.members
        return {
            "next_bal": self.next_bal.encode(),
            "president": int(self.is_president),
            "hint": -1 if self.hint is None else self.hint,
            "known": self.law.known,
            "highest": self.law.highest(),
            "role": self.role,
            "genesis": members.genesis,
            "members": ",".join(str(m) for m in sorted(members.at(self.law.known, self.law.known)
                                                        or ())),
            "members_at": members.changed_at,
            "pending_until": members.pending_until,
            "stamp": self.stamp,
        }

    #: message class -> handler method name (looked up on the instance, so variants override)
    _HANDLERS: dict[type, str] = {
        NextBallot: "handle_next_ballot",
        BeginBallot: "handle_begin_ballot",
        SuccessfulBallot: "handle_successful_ballot",
        FailedBallot: "handle_failed_ballot",
        LastVote: "to_president",
        Voted: "to_president",
        VoteNo: "to_president",
        Inquiry: "handle_inquiry",
        Transcript: "handle_transcript",
        Petition: "handle_petition",
    }
