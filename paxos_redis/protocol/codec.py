"""One pure codec between messages and flat stream fields (what a Redis stream entry holds).

Field names are short byte strings; values are bytes.  Scalars are ASCII
decimal (ballots as ``round.priest``); batches of decrees are packed binary,
length-prefixed, so a decree body may hold any bytes.  Decoding rejects
anything malformed with :class:`MalformedMessage` naming the field.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

from paxos_redis.errors import MalformedMessage, ProtocolError
from paxos_redis.protocol.ballot import Ballot
from paxos_redis.protocol.decree import KEEP_WIRE, Decree
from paxos_redis.protocol.messages import BY_CODE, CITIZEN_ID, Entry, Message, Vote

_ENTRY = struct.Struct(">QI")          # decree number, decree length
_VOTE = struct.Struct(">QQqI")         # decree number, ballot round, ballot priest, decree length
_NUMBER = struct.Struct(">Q")
_LENGTH = struct.Struct(">I")

Fields = Mapping[Any, Any]


# ---------------------------------------------------------------- packing of batches

def pack_entries(entries: Iterable[Entry] | Iterable[tuple[int, Decree, int]]) -> bytes:
    """``(n, decree)`` entries, length-prefixed; longer tuples (an ``Applied``) pack their
    first two items."""
    pack = _ENTRY.pack                            # every priest, several times per decree
    parts: list[bytes] = []
    for entry in entries:
        decree = entry[1]
        data = decree.wire
        if data is None and len(decree.body) > KEEP_WIRE:
            _large(parts, lambda size: pack(entry[0], size), decree)
            continue
        data = data or decree.encode()
        parts.append(pack(entry[0], len(data)))
        parts.append(data)
    return b"".join(parts)


def _large(parts: list[bytes], header: Callable[[int], bytes], decree: Decree) -> None:
    """A large decree (it keeps no encoding) as its pieces, after ``header(its size)``: its
    body is copied once, by the packer's join."""
    head = decree.head()
    parts += (header(len(head) + len(decree.body)), head, decree.body)


def unpack_entries(data: bytes) -> tuple[Entry, ...]:
    entries = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + _ENTRY.size > end:
            raise ProtocolError(f"truncated entry header at byte {pos}")
        n, size = _ENTRY.unpack_from(data, pos)
        pos += _ENTRY.size
        if pos + size > end:
            raise ProtocolError(f"entry for decree {n} claims {size} bytes, {end - pos} remain")
        entries.append((n, Decree.decode(data[pos : pos + size])))
        pos += size
    return tuple(entries)


def pack_ids(pairs: list[tuple[int, str]]) -> bytes:
    """``(n, petition id)`` pairs in the layout of :func:`pack_entries` for decrees with
    an empty body (replies and receipts name petitions, not bodies), without making them."""
    out = bytearray()
    for n, pid in pairs:
        data = pid.encode()
        out += _ENTRY.pack(n, len(data) + 1)
        out.append(len(data))
        out += data
    return bytes(out)


def unpack_ids(data: bytes) -> list[tuple[int, str]]:
    """The ``(n, petition id)`` pairs of :func:`pack_ids` (a body after an id is ignored)."""
    pairs = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + _ENTRY.size > end:
            raise ProtocolError(f"truncated entry header at byte {pos}")
        n, size = _ENTRY.unpack_from(data, pos)
        pos += _ENTRY.size
        if pos + size > end or size < 1 or data[pos] >= size:
            raise ProtocolError(f"entry for decree {n} claims {size} bytes, {end - pos} remain, "
                                "or an id longer than the entry")
        try:
            pairs.append((n, data[pos + 1 : pos + 1 + data[pos]].decode()))
        except UnicodeDecodeError:
            raise ProtocolError("decree petition id is not UTF-8") from None
        pos += size
    return pairs


def pack_votes(votes: tuple[Vote, ...]) -> bytes:
    pack = _VOTE.pack
    parts: list[bytes] = []
    for n, ballot, decree in votes:
        data = decree.wire
        if data is None and len(decree.body) > KEEP_WIRE:
            _large(parts, lambda size: pack(n, ballot.round, ballot.priest, size), decree)
            continue
        data = data or decree.encode()
        parts.append(pack(n, ballot.round, ballot.priest, len(data)))
        parts.append(data)
    return b"".join(parts)


def unpack_votes(data: bytes) -> tuple[Vote, ...]:
    votes = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + _VOTE.size > end:
            raise ProtocolError(f"truncated vote header at byte {pos}")
        n, rnd, priest, size = _VOTE.unpack_from(data, pos)
        pos += _VOTE.size
        if pos + size > end:
            raise ProtocolError(f"vote for decree {n} claims {size} bytes, {end - pos} remain")
        votes.append((n, Ballot(rnd, priest), Decree.decode(data[pos : pos + size])))
        pos += size
    return tuple(votes)


def pack_numbers(numbers: tuple[int, ...]) -> bytes:
    return b"".join(_NUMBER.pack(n) for n in numbers)


def unpack_numbers(data: bytes) -> tuple[int, ...]:
    if len(data) % _NUMBER.size:
        raise ProtocolError(f"{len(data)} bytes is not a whole number of 8-byte decree numbers")
    return tuple(n for (n,) in _NUMBER.iter_unpack(data))


def pack_decrees(decrees: tuple[Decree, ...]) -> bytes:
    pack = _LENGTH.pack
    parts: list[bytes] = []
    for decree in decrees:
        data = decree.wire
        if data is None and len(decree.body) > KEEP_WIRE:
            _large(parts, pack, decree)
            continue
        data = data or decree.encode()
        parts.append(pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def unpack_decrees(data: bytes) -> tuple[Decree, ...]:
    decrees = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + _LENGTH.size > end:
            raise ProtocolError(f"truncated decree length at byte {pos}")
        (size,) = _LENGTH.unpack_from(data, pos)
        pos += _LENGTH.size
        if pos + size > end:
            raise ProtocolError(f"decree claims {size} bytes, {end - pos} remain")
        decrees.append(Decree.decode(data[pos : pos + size]))
        pos += size
    return tuple(decrees)


# ---------------------------------------------------------------- field table

def _int(text: bytes) -> int:
    if not text.isdigit() or len(text) > 20:
        raise ProtocolError(f"expected a decimal integer of at most 20 digits, got {text[:40]!r}")
    return int(text)


#: the highest ballot round accepted from the wire: far below what a ballot can hold, so a
#: priest that promised it can always pick a higher ballot of its own (B1)
MAX_WIRE_ROUND = 2**62


def _ballot(text: bytes) -> Ballot:
    ballot = Ballot.parse(text.decode("ascii"))
    if ballot.round > MAX_WIRE_ROUND:
        raise ProtocolError(f"ballot round {ballot.round} is above {MAX_WIRE_ROUND}")
    return ballot


def _int_out(value: int) -> bytes:
    return str(value).encode()


def _ballot_out(value: Ballot) -> bytes:
    return value.encode().encode()


def _receipt_out(value: tuple[int, str, int]) -> bytes:
    return f"{value[0]} {value[1]} {value[2]}".encode()


def _receipt(text: bytes) -> tuple[int, str, int]:
    parts = text.split(b" ")
    name = parts[1].decode("ascii", "replace") if len(parts) == 3 else ""
    if not CITIZEN_ID.fullmatch(name):
        raise ProtocolError(f"expected 'n citizen members', got {text[:60]!r}")
    return _int(parts[0]), name, _int(parts[2])


#: field name -> (message attribute, encoder, decoder)
_FIELDS: dict[str, tuple[str, Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    "from": ("sender", _int_out, _int),
    "ballot": ("ballot", _ballot_out, _ballot),
    "known": ("known", _int_out, _int),
    "n": ("from_n", _int_out, _int),
    "promise": ("promise", _ballot_out, _ballot),
    "decree": ("entries", pack_entries, unpack_entries),
    "votes": ("votes", pack_votes, unpack_votes),
    "passed": ("passed", pack_entries, unpack_entries),
    "numbers": ("numbers", pack_numbers, unpack_numbers),
    "decrees": ("decrees", pack_decrees, unpack_decrees),
    "receipt": ("receipt", _receipt_out, _receipt),
    "voted": ("voted", pack_numbers, unpack_numbers),
}
#: fields left out while they hold their default (None): absent means the default
_OPTIONAL = frozenset({"receipt", "voted"})
_ATTR_FIELD = {attr: name for name, (attr, _, _) in _FIELDS.items()}

#: message class -> the fields it carries (besides role and code)
_LAYOUT: dict[type, tuple[str, ...]] = {
    cls: tuple(_ATTR_FIELD[f.name] for f in dataclass_fields(cls) if f.name in _ATTR_FIELD)
    for cls in BY_CODE.values()
}


def encode(message: Message) -> dict[bytes, bytes]:
    """Message -> stream fields."""
    cls = type(message)
    fields = {b"role": cls.role.encode(), b"code": str(cls.code).encode()}
    for name in _LAYOUT[cls]:
        attr, out, _ = _FIELDS[name]
        value = getattr(message, attr)
        if value is not None or name not in _OPTIONAL:
            fields[name.encode()] = out(value)
    return fields


def _raw(fields: Fields, name: str) -> bytes:
    value = fields.get(name.encode(), fields.get(name))
    if value is None:
        raise MalformedMessage(name, "missing")
    if isinstance(value, str):
        try:
            return value.encode()
        except UnicodeEncodeError:
            raise MalformedMessage(name, "text is not encodable as UTF-8") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise MalformedMessage(name, f"expected bytes, got {type(value).__name__}")


def decode(fields: Fields) -> Message:
    """Stream fields -> message; raises :class:`MalformedMessage` naming the bad field.

    Fields this message kind does not use are ignored (the transport adds its own,
    such as the parliament name and the authentication tag).
    """
    if not isinstance(fields, Mapping):
        raise MalformedMessage("*", f"expected a mapping of fields, got {type(fields).__name__}")
    role = _raw(fields, "role").decode("ascii", "replace")
    code_text = _raw(fields, "code")
    try:
        code = _int(code_text)
    except ProtocolError as exc:
        raise MalformedMessage("code", str(exc)) from None
    cls = BY_CODE.get((role, code))
    if cls is None:
        raise MalformedMessage("code", f"unknown code {code} for role {role!r}")
    kwargs = {}
    for name in _LAYOUT[cls]:
        attr, _, parse = _FIELDS[name]
        if name in _OPTIONAL and name.encode() not in fields and name not in fields:
            continue
        try:
            kwargs[attr] = parse(_raw(fields, name))
        except MalformedMessage:
            raise
        except (ProtocolError, UnicodeDecodeError, ValueError) as exc:
            raise MalformedMessage(name, str(exc)) from None
    message: Message = cls(**kwargs)
    return message


__all__ = [
    "decode",
    "encode",
    "pack_decrees",
    "pack_entries",
    "pack_ids",
    "pack_numbers",
    "pack_votes",
    "unpack_decrees",
    "unpack_entries",
    "unpack_ids",
    "unpack_numbers",
    "unpack_votes",
]
