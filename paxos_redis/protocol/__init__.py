"""The pure protocol core: no Redis, no files, no clock, no randomness.

It takes a message, a petition or a tick, and returns :class:`Effects`: ledger
records to make durable, then messages to send, then decrees enacted.
"""

from .ballot import ZERO, Ballot
from .codec import decode, encode
from .decree import OLIVE_DAY, Decree
from .effects import Effects, Enacted
from .errors import CorruptRecord, MalformedMessage, ProtocolError
from .law import Law
from .messages import (
    BeginBallot, FailedBallot, Inquiry, LastVote, Message, NextBallot, Petition,
    SuccessfulBallot, Transcript, VoteNo, Voted,
)
from .president import President
from .priest import Priest
from .quorum import Quorum, majority
from .records import Passed, Promise, Record, Seat, Tried, Votes, decode_record, encode_record
from .rules import Rules

__all__ = [
    "Ballot", "ZERO", "Decree", "OLIVE_DAY", "Effects", "Enacted", "Law", "Message",
    "NextBallot", "BeginBallot", "SuccessfulBallot", "FailedBallot", "LastVote", "Voted",
    "VoteNo", "Inquiry", "Transcript", "Petition", "President", "Priest", "Quorum", "majority",
    "Record", "Seat", "Promise", "Tried", "Votes", "Passed", "encode_record", "decode_record",
    "Rules", "encode", "decode", "ProtocolError", "MalformedMessage", "CorruptRecord",
]
