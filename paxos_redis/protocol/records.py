"""Ledger records: what a priest writes "in indelible ink" before it answers.

Each record is encoded to bytes by this pure codec; the ledger adapter frames
each one with its length and checksum and makes batches durable with fsync.

==========  ====  ===========================================================
record      kind  written when
==========  ====  ===========================================================
Seat        S     the ledger is created: parliament, this priest's seat, seats
Promise     P     the priest promises ``next_bal`` (before sending last vote)
Tried       T     the priest, as president, starts ballot ``last_tried``
Votes       V     the priest votes (before sending voted): its ``prev_vote``
Passed      L     the priest learns passed decrees (the law)
Archived    A     compaction: the law below ``upto`` is in the priest's archive
==========  ====  ===========================================================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Union

from .ballot import Ballot
from .codec import pack_entries, unpack_entries
from .errors import CorruptRecord, ProtocolError
from .messages import Entry

_BALLOT = struct.Struct(">Qi")
_SEAT = struct.Struct(">II")
_UPTO = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class Seat:
    """Who this ledger belongs to: the membership is law kept in the ledgers, not in Redis."""

    parliament: str
    priest: int
    seats: int


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


Record = Union[Seat, Promise, Tried, Votes, Passed, Archived]


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
    if isinstance(record, Seat):
        return b"S" + _SEAT.pack(record.priest, record.seats) + record.parliament.encode()
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
        if kind == b"S" and len(body) >= _SEAT.size:
            priest, seats = _SEAT.unpack_from(body)
            return Seat(body[_SEAT.size :].decode(), priest, seats)
        if kind == b"A" and len(body) == _UPTO.size:
            return Archived(_UPTO.unpack(body)[0])
    except CorruptRecord:
        raise
    except (ProtocolError, UnicodeDecodeError) as exc:
        raise CorruptRecord(f"record kind {kind!r}: {exc}") from None
    raise CorruptRecord(f"unknown record kind {kind!r} or wrong length {len(body)}")
