"""Decrees: the opaque payloads the Parliament passes, each tagged with a petition id.

The petition id lets a retried petition be passed once: the law applies the
first decree with a given id and treats later ones as no-ops.  The
*olive-day decree* (empty id, empty body) fills a decree number that no
petition claimed, so every ledger's law has no holes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from paxos_redis.errors import ProtocolError

_PID_LEN = struct.Struct(">B")
_new, _set = object.__new__, object.__setattr__
MAX_PETITION_ID = 255
#: decrees whose encoding is at most this many bytes keep it (see ``Decree.wire``)
KEEP_WIRE = 4096


@dataclass(frozen=True, slots=True)
class Decree:
    """One decree: the citizen's ``petition`` id and the opaque ``body`` bytes."""

    petition: str
    body: bytes
    #: the encoding, kept once made or decoded (not part of equality): a decree crosses
    #: the wire and the ledger several times per priest.  Only small decrees keep it
    #: (a large one is encoded again rather than held twice in memory)
    wire: bytes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.petition, str):
            raise ProtocolError(f"petition id must be str, got {type(self.petition).__name__}")
        if len(self.petition.encode()) > MAX_PETITION_ID:
            raise ProtocolError(f"petition id longer than {MAX_PETITION_ID} bytes")
        if not isinstance(self.body, bytes):
            raise ProtocolError(f"decree body must be bytes, got {type(self.body).__name__}")

    @property
    def is_olive_day(self) -> bool:
        return self.petition == ""

    def encode(self) -> bytes:
        wire = self.wire
        if wire is None:
            wire = self.head() + self.body
            if len(wire) <= KEEP_WIRE:
                object.__setattr__(self, "wire", wire)
        return wire

    def head(self) -> bytes:
        """The encoding's first part, before the body: the id's length and the id (a packer
        joins a large decree's head and body with the rest, rather than encode it first
        and copy the body twice)."""
        pid = self.petition.encode()
        return _PID_LEN.pack(len(pid)) + pid

    @classmethod
    def decode(cls, data: bytes) -> Decree:
        if not data:
            raise ProtocolError("empty decree encoding (needs at least the id length byte)")
        size = data[0]
        if len(data) < 1 + size:
            raise ProtocolError(f"decree id length {size} runs past the {len(data)} bytes given")
        try:
            pid = data[1 : 1 + size].decode()
        except UnicodeDecodeError:
            raise ProtocolError("decree petition id is not UTF-8") from None
        # what __post_init__ checks holds by construction (a str id of at most 255 bytes,
        # bytes body); decoding is the hot path of every priest, so it is skipped
        decree = _new(cls)
        _set(decree, "petition", pid)
        _set(decree, "body", bytes(data[1 + size :]))
        _set(decree, "wire", bytes(data) if len(data) <= KEEP_WIRE else None)
        return decree


#: Petition ids starting with this mark are the Parliament's own no-ops (sync barriers);
#: the law as citizens read it skips them, like olive-day decrees.
INTERNAL = "!"

#: The olive-day decree: passed where no petition was proposed, so the law has no holes.
OLIVE_DAY = Decree("", b"")


def in_citizens_law(n: int, first: int, decree: Decree) -> bool:
    """Whether decree ``n`` is a line of the law as citizens read it: the first passing of its
    petition (``first``, from the law's dedup), neither an olive-day decree nor one of the
    Parliament's own (``INTERNAL``: sync barriers, membership)."""
    return first == n and not decree.is_olive_day and not decree.petition.startswith(INTERNAL)
