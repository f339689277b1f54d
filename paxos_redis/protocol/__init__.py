"""The pure protocol core: no Redis, no files, no clock, no randomness.

It takes a message, a petition or a tick, and returns :class:`Effects`: ledger
records to make durable, then messages to send, then decrees enacted.
"""

from .ballot import ZERO, Ballot
from .codec import decode, encode
from .decree import OLIVE_DAY, Decree
from .effects import Effects, Enacted, Receipt
from .errors import CorruptRecord, MalformedMessage, ProtocolError
from .law import Archive, Law, LawConflict
from .membership import Change, Founding, Membership, name, parse_name
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
from .records import (
    Archived,
    Identity,
    Members,
    Passed,
    Promise,
    Record,
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
    "Change",
    "Founding",
    "Identity",
    "LawConflict",
    "Members",
    "Membership",
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
    "Receipt",
    "Record",
    "Rules",
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
    "name",
    "parse_name",
]
