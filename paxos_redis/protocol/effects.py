"""What one step of the core asks the runtime to do, in order.

The runtime must make every record in ``records`` durable (one fsync for the
batch: group commit) *before* any message in ``messages`` leaves: persist,
then send.  ``applied`` lists the decrees applied to the law by this step, in
decree-number order.

Two exceptions, which :meth:`Effects.before_records` lists for the runtime:

* a *begin ballot* may leave at once.  It depends on its ballot being recorded as
  tried, which a president does in the step that starts the ballot, before any
  last vote can come back; never on the records of the step that sends it.  The
  president's own vote in that step counts only in later steps, by which time it
  is durable (the runtime finishes a step's fsync before it starts the next);
* if every record of the step notes decrees passed (:class:`Passed`), everything
  may leave at once: what made those decrees passed is a majority's votes, each
  durable before it was sent; the note only spares asking again after a restart.

``receipts`` are votes told to a citizen (see :class:`Receipt`); like *voted*
messages they leave only once the records are durable.  ``vouched`` names the
petitions whose voters a begin ballot of this step (sent to another priest) asked for
receipts: those receipts answer the citizen, so the president need not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from paxos_redis.protocol.ballot import Ballot
from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.messages import BeginBallot, Message
from paxos_redis.protocol.records import Passed, Record


class Applied(NamedTuple):
    """Decree ``n`` was applied to the law.

    ``first`` is the decree number at which the same petition first passed:
    equal to ``n`` for a new petition, lower for a retried one (applied once).
    (A named tuple: every priest makes one per decree, and twice when it compacts; hot
    loops make it as ``tuple.__new__(Applied, (n, decree, first))``, which skips the
    named tuple's ``__new__``, a Python function, at half the cost.)
    """

    n: int
    decree: Decree
    first: int

    @property
    def is_duplicate(self) -> bool:
        return self.first != self.n


@dataclass(frozen=True, slots=True)
class Receipt:
    """Priest ``priest`` (one of ``of`` members governing ``n``) voted at ``ballot`` for
    ``petition`` at decree ``n``: sent to ``citizen``, whom the president vouched is answered
    by ``n`` (see :class:`~.messages.BeginBallot`).  Receipts from a majority of the ``of``
    members at one ballot prove the decree passed, so the citizen needs no word from the
    president (only members get the begin ballot that asks for receipts)."""

    citizen: str
    priest: int
    of: int
    ballot: Ballot
    n: int
    petition: str


class Answer(NamedTuple):
    """What a citizen is told of its petition at once, without a ballot: the decree number
    ``n`` where it first passed (a retry of a petition the law holds), or why it is
    refused (``error``).  See :meth:`~.priest.Priest.triage`."""

    petition: str
    n: int | None = None
    error: str | None = None


@dataclass(slots=True)
class Effects:
    """Records to persist, then messages to send (``(priest, message)``), then decrees applied,
    and receipts for citizens (sent with the messages that wait for the records), and the
    petitions vouched for by receipts (a tuple: most steps vouch for none, and make none)."""

    records: list[Record] = field(default_factory=list)
    messages: list[tuple[int, Message]] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    vouched: tuple[str, ...] = ()

    def before_records(self) -> tuple[list[tuple[int, Message]], list[tuple[int, Message]]]:
        """``(may leave before the records are durable, must wait for them)``."""
        if self.notes_only:
            return list(self.messages), []
        early: list[tuple[int, Message]] = []
        rest: list[tuple[int, Message]] = []
        for item in self.messages:
            (early if type(item[1]) is BeginBallot else rest).append(item)
        return early, rest

    @property
    def notes_only(self) -> bool:
        """Every record notes decrees passed (none at all counts too), and no receipt waits."""
        return not self.receipts and all(type(record) is Passed for record in self.records)

    def extend(self, other: Effects) -> None:
        self.records.extend(other.records)
        self.messages.extend(other.messages)
        self.applied.extend(other.applied)
        self.receipts.extend(other.receipts)
        if other.vouched:
            self.vouched += other.vouched

    def __bool__(self) -> bool:
        return bool(self.records or self.messages or self.applied or self.receipts
                    or self.vouched)
