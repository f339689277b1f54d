"""Ledger records: what a priest writes "in indelible ink" before it answers.

Each record is encoded to bytes by this pure codec; the ledger adapter frames
each one with its length and checksum and makes batches durable with fsync.

==========  ====  ===========================================================
record      kind  written when
==========  ====  ===========================================================
Identity    I     the ledger is created: parliament, this priest's identity (random)
Members     M     compaction: the membership as the archived law decides it
Promise     P     the priest promises ``next_bal`` (before sending last vote)
Tried       T     the priest, as president, starts ballot ``last_tried``
Votes       V     the priest votes (before sending voted): its ``prev_vote``
Passed      L     the priest learns passed decrees (the law)
Archived    A     compaction: the law below ``upto`` is in the priest's archive
==========  ====  ===========================================================
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Union

from paxos_redis.errors import CorruptRecord, ProtocolError
from paxos_redis.protocol.ballot import Ballot
from paxos_redis.protocol.codec import pack_entries, unpack_entries
from paxos_redis.protocol.membership import Membership
from paxos_redis.protocol.messages import Entry

_BALLOT = struct.Struct(">Qq")
_IDENTITY = struct.Struct(">QQ")
_UPTO = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this ledger belongs to: a priest of ``parliament`` named ``priest``, a number drawn
    at random when the ledger was created.  A new ledger is a new priest; whether it votes
    is law (:mod:`.membership`), never this record.

    ``stamp`` counts the promises, votes and ballots tried this priest wrote before this
    record (compaction rewrites the ledger, and carries the count over): with the ones
    after it, the priest's *stamp*, which only grows.  A copy of the ledger restored from
    a backup has a lower stamp than the priest had: see :attr:`Priest.stamp`."""

    parliament: str
    priest: int
    stamp: int = 0


@dataclass(frozen=True, slots=True)
class Members:
    """Compaction: the membership once the law below ``at`` is applied (the decrees that
    decided it are in the archive now)."""

    at: int
    membership: Membership

    def encode(self) -> bytes:
        m = self.membership
        return json.dumps({"at": self.at, "genesis": m.genesis, "alpha": m.alpha,
                           "configs": [[start, sorted(ids)] for start, ids in m.configs],
                           "pending_until": m.pending_until, "changed_at": m.changed_at,
                           "taken": m.taken}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Members:
        try:
            d = json.loads(data)
            m = Membership(str(d["genesis"]), int(d["alpha"]),
                           [(int(start), frozenset(int(i) for i in ids))
                            for start, ids in d["configs"]],
                           int(d["pending_until"]), int(d["changed_at"]), int(d["taken"]))
            return cls(int(d["at"]), m)
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
            # (OverflowError: int(Infinity); RecursionError: arrays nested too deep)
            raise CorruptRecord(f"members record: {exc}") from None


@dataclass(frozen=True, slots=True)
class Promise:
    """``next_bal``: the priest will take part in no ballot below this one."""

    ballot: Ballot


@dataclass(frozen=True, slots=True)
class Tried:
    """``last_tried``: the highest ballot this priest started as president (keeps B1)."""

    ballot: Ballot


@dataclass(frozen=True, slots=True)
class Votes:
    """``prev_vote`` for each entry: the priest voted for these decrees at ``ballot``."""

    ballot: Ballot
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Passed:
    """Decrees the priest learned were passed: its copy of the law."""

    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Archived:
    """Written by compaction, after the archive was made durable: every decree below ``upto``
    is in the archive (the law file) and no longer in this ledger.  A ledger that says so
    beside an archive that ends lower has lost law, and is refused."""

    upto: int


Record = Union[Identity, Promise, Tried, Votes, Passed, Archived, Members]


def _ballot(data: bytes) -> Ballot:
    if len(data) < _BALLOT.size:
        raise CorruptRecord(f"ballot needs {_BALLOT.size} bytes, record has {len(data)}")
    return Ballot(*_BALLOT.unpack_from(data))


def encode_record(record: Record) -> bytes:
    """Record -> bytes (kind byte, then the body); a value out of range is a ProtocolError."""
    return b"".join(encode_record_parts(record))


def encode_record_parts(record: Record) -> list[bytes]:
    """:func:`encode_record` in parts whose join is the encoding (the entries of a Passed or
    Votes record stay one part: not copied again behind their kind and ballot)."""
    try:
        return _encode(record)
    except struct.error as exc:
        raise ProtocolError(f"cannot encode {type(record).__name__}: {exc}") from None


def _encode(record: Record) -> list[bytes]:
    if isinstance(record, Passed):
        return [b"L", pack_entries(record.entries)]
    if isinstance(record, Votes):
        return [b"V" + _BALLOT.pack(record.ballot.round, record.ballot.priest),
                pack_entries(record.entries)]
    return [_encode_small(record)]


def _encode_small(record: Record) -> bytes:
    if isinstance(record, Promise):
        return b"P" + _BALLOT.pack(record.ballot.round, record.ballot.priest)
    if isinstance(record, Tried):
        return b"T" + _BALLOT.pack(record.ballot.round, record.ballot.priest)
    if isinstance(record, Identity):
        return b"I" + _IDENTITY.pack(record.priest, record.stamp) + record.parliament.encode()
    if isinstance(record, Members):
        return b"M" + record.encode()
    if isinstance(record, Archived):
        return b"A" + _UPTO.pack(record.upto)
    raise TypeError(f"not a ledger record: {record!r}")


def decode_record(data: bytes) -> Record:
    """Bytes -> record; raises :class:`CorruptRecord` saying what is wrong."""
    if not data:
        raise CorruptRecord("empty record")
    kind, body = data[:1], data[1:]
    try:
        if kind == b"L":
            return Passed(unpack_entries(body))
        if kind == b"V":
            return Votes(_ballot(body), unpack_entries(body[_BALLOT.size :]))
        if kind == b"P" and len(body) == _BALLOT.size:
            return Promise(_ballot(body))
        if kind == b"T" and len(body) == _BALLOT.size:
            return Tried(_ballot(body))
        if kind == b"I" and len(body) >= _IDENTITY.size:
            priest, stamp = _IDENTITY.unpack_from(body)
            return Identity(body[_IDENTITY.size :].decode(), priest, stamp)
        if kind == b"M":
            return Members.decode(body)
        if kind == b"A" and len(body) == _UPTO.size:
            return Archived(_UPTO.unpack(body)[0])
    except CorruptRecord:
        raise
    except (ProtocolError, UnicodeDecodeError) as exc:
        raise CorruptRecord(f"record kind {kind!r}: {exc}") from None
    raise CorruptRecord(f"unknown record kind {kind!r} or wrong length {len(body)}")
