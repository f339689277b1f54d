"""The pure protocol core: no Redis, no files, no clock, no randomness.

It takes a message, a petition or a tick, and returns :class:`Effects`: ledger
records to make durable, then messages to send, then decrees enacted.
"""

from .ballot import ZERO, Ballot
from .codec import decode, encode
from .decree import OLIVE_DAY, Decree
from .effects import Effects, Enacted, Receipt
from .errors import CorruptRecord, MalformedMessage, ProtocolError
from .law import Archive, Law
from .messages import (
    BeginBallot,
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
)
from .president import President
from .priest import Priest
from .quorum import Quorum, majority
from .records import (
    Archived,
    Passed,
    Promise,
    Record,
    Seat,
    Tried,
    Votes,
    decode_record,
    encode_record,
)
from .rules import Rules

__all__ = [
    "OLIVE_DAY",
    "ZERO",
    "Archive",
    "Archived",
    "Ballot",
    "BeginBallot",
    "CorruptRecord",
    "Decree",
    "Effects",
    "Enacted",
    "FailedBallot",
    "Inquiry",
    "LastVote",
    "Law",
    "MalformedMessage",
    "Message",
    "NextBallot",
    "Passed",
    "Petition",
    "President",
    "Priest",
    "Promise",
    "ProtocolError",
    "Quorum",
    "Receipt",
    "Record",
    "Rules",
    "Seat",
    "SuccessfulBallot",
    "Transcript",
    "Tried",
    "VoteNo",
    "Voted",
    "Votes",
    "decode",
    "decode_record",
    "encode",
    "encode_record",
    "majority",
]
