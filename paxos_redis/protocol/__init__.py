"""The pure protocol core: no Redis, no files, no clock, no randomness.

It takes a message, a petition or a tick, and returns :class:`Effects`: ledger
records to make durable, then messages to send, then decrees applied.
"""

from paxos_redis.errors import CorruptRecord, LawConflict, MalformedMessage, ProtocolError
from paxos_redis.protocol.ballot import ZERO, Ballot
from paxos_redis.protocol.codec import decode, encode
from paxos_redis.protocol.decree import OLIVE_DAY, Decree
from paxos_redis.protocol.effects import Answer, Applied, Effects, Receipt
from paxos_redis.protocol.law import Archive, Law
from paxos_redis.protocol.membership import Change, Founding, Membership, name, parse_name
from paxos_redis.protocol.messages import (
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
from paxos_redis.protocol.president import President
from paxos_redis.protocol.priest import Priest
from paxos_redis.protocol.records import (
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
from paxos_redis.protocol.rules import Rules

__all__ = [
    "OLIVE_DAY",
    "ZERO",
    "Answer",
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
    "Applied",
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
