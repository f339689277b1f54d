"""The coded messages of the Synod (the seed's messagebook), plus the clerks' traffic.

Every message names its ``sender`` (a priest's identity), a ``ballot`` and the sender's ``known``
point: the lowest decree number the sender does not yet know to be passed.
A receiver that sees a higher ``known`` than its own asks the sender for the
decrees it missed (an :class:`Inquiry`), which is how a priest that was away
catches up.

The seed's codes are the wire codes; ``role`` says which side sent the message:

=========  ====  ==================  =================================================
role       code  message             meaning
=========  ====  ==================  =================================================
president  1     NextBallot          "promise me ballot b for every decree >= from_n"
president  2     BeginBallot         "vote for these decrees at ballot b"
president  3     SuccessfulBallot    "these decrees have passed"
president  4     FailedBallot        "ballot b is abandoned"
priest     1     LastVote            the promise, with the priest's votes above from_n
priest     2     Voted               "I voted for these decree numbers at ballot b"
priest     3     VoteNo              "I promised a higher ballot; here it is"
clerk      1     Inquiry             not Synod: "send me passed decrees from my known"
clerk      2     Transcript          not Synod: passed decrees, the answer to an inquiry
clerk      3     Petition            not Synod: decrees forwarded to the president
=========  ====  ==================  =================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Union

from paxos_redis.protocol.ballot import ZERO, Ballot
from paxos_redis.protocol.decree import Decree

#: (decree number, decree)
Entry = tuple[int, Decree]


def body_bytes(entry: Entry) -> int:
    """The bytes an entry's decree body takes (what ``Rules.batch_bytes`` counts)."""
    return len(entry[1].body)
#: (decree number, ballot voted at, decree voted for): the paper's prev_vote per decree
Vote = tuple[int, Ballot, Decree]
#: A citizen's id: it names the citizen's reply stream.
CITIZEN_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


@dataclass(frozen=True, slots=True)
class NextBallot:
    """Step 1: the president asks for promises on every decree number >= ``from_n``."""

    role: ClassVar[str] = "president"
    code: ClassVar[int] = 1
    sender: int
    ballot: Ballot
    known: int
    from_n: int


@dataclass(frozen=True, slots=True)
class BeginBallot:
    """Step 3: the president asks priests to vote ``entries`` at ``ballot`` (batched).

    ``receipt`` is ``(n, citizen, of)`` when the president vouches that decree ``n`` (the
    first entry) is where its petition will first pass if it passes at all: ``n`` was
    the lowest number it did not know passed, and the petition was not in its law.
    Each voter then also sends ``citizen`` a receipt of its vote, and a majority of the
    ``of`` members governing ``n`` sending receipts at one ballot answers the citizen
    without the president's reply.
    """

    role: ClassVar[str] = "president"
    code: ClassVar[int] = 2
    sender: int
    ballot: Ballot
    known: int
    entries: tuple[Entry, ...]
    receipt: tuple[int, str, int] | None = None


@dataclass(frozen=True, slots=True)
class SuccessfulBallot:
    """Step 5: ``entries`` have passed; every priest writes them in its ledger.

    ``voted`` names more decree numbers passed at ``ballot`` without their decrees: the
    receiver voted for them at this ballot, and one ballot proposes one decree per
    number, so its own vote holds the decree (large bodies cross Redis once less).
    """

    role: ClassVar[str] = "president"
    code: ClassVar[int] = 3
    sender: int
    ballot: Ballot
    known: int
    entries: tuple[Entry, ...]
    voted: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class FailedBallot:
    """The president abandons ``ballot``; priests may drop state kept for it."""

    role: ClassVar[str] = "president"
    code: ClassVar[int] = 4
    sender: int
    ballot: Ballot
    known: int


@dataclass(frozen=True, slots=True)
class LastVote:
    """Step 2: the promise not to vote below ``ballot``, with the priest's votes.

    ``votes`` holds the priest's vote for every decree number >= max(from_n,
    known); ``passed`` holds decrees the priest knows passed from ``from_n``
    up (at most a catch-up batch of them).
    """

    role: ClassVar[str] = "priest"
    code: ClassVar[int] = 1
    sender: int
    ballot: Ballot
    known: int
    from_n: int
    votes: tuple[Vote, ...]
    passed: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Voted:
    """Step 4: the priest voted at ``ballot`` for each of ``numbers``."""

    role: ClassVar[str] = "priest"
    code: ClassVar[int] = 2
    sender: int
    ballot: Ballot
    known: int
    numbers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class VoteNo:
    """The priest refuses ``ballot``: it has promised ``promise``, which is higher."""

    role: ClassVar[str] = "priest"
    code: ClassVar[int] = 3
    sender: int
    ballot: Ballot
    known: int
    promise: Ballot


@dataclass(frozen=True, slots=True)
class Inquiry:
    """Not Synod: the sender asks for passed decrees from its ``known`` up."""

    role: ClassVar[str] = "clerk"
    code: ClassVar[int] = 1
    sender: int
    known: int
    ballot: Ballot = ZERO


@dataclass(frozen=True, slots=True)
class Transcript:
    """Not Synod: passed decrees copied from the sender's ledger."""

    role: ClassVar[str] = "clerk"
    code: ClassVar[int] = 2
    sender: int
    known: int
    entries: tuple[Entry, ...]
    ballot: Ballot = ZERO


@dataclass(frozen=True, slots=True)
class Petition:
    """Not Synod: decrees a priest forwards to the one it believes is president."""

    role: ClassVar[str] = "clerk"
    code: ClassVar[int] = 3
    sender: int
    known: int
    decrees: tuple[Decree, ...]
    ballot: Ballot = ZERO


Message = Union[
    NextBallot, BeginBallot, SuccessfulBallot, FailedBallot,
    LastVote, Voted, VoteNo, Inquiry, Transcript, Petition,
]

#: (role, code) -> message class: the one place the wire codes are listed.
BY_CODE: dict[tuple[str, int], type] = {
    (cls.role, cls.code): cls
    for cls in (NextBallot, BeginBallot, SuccessfulBallot, FailedBallot,
                LastVote, Voted, VoteNo, Inquiry, Transcript, Petition)
}
