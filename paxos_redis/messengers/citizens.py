"""The citizens' traffic on Redis: petitions, replies, law queries and god's word.

None of this is a Synod message; each kind has its own ``role`` so it can never
be mistaken for one.  Field layouts:

petitions stream   ``pid``, ``body``, ``reply`` (the citizen's id)
replies stream     ``passed`` (packed ``(n, pid)`` pairs: every answer of one batch), or
                   ``pid``, ``n`` (the decree number it passed at) or ``pid``, ``error``
                   ``req``, ``priest``, ``known``, ``decree`` (packed entries: a law answer)
                   ``voted``, ``priest``, ``of``, ``ballot``: one priest's receipts
a priest's inbox   ``role=citizen code=1``: a law query with ``req``, ``reply``, ``from``, ``to``
                   ``role=god code=1``: "start a ballot"
                   ``role=god code=2``: "found the parliament" with ``decree`` (decree 0)
                   ``role=god code=3``: "propose this change of membership" with
                   ``change`` (``admit HEX`` or ``remove HEX``) and ``nonce``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paxos_redis.errors import MalformedMessage, ProtocolError
from paxos_redis.protocol.ballot import Ballot
from paxos_redis.protocol.codec import (
    pack_decrees,
    pack_entries,
    pack_ids,
    unpack_decrees,
    unpack_entries,
    unpack_ids,
)
from paxos_redis.protocol.decree import Decree
from paxos_redis.protocol.effects import Receipt
from paxos_redis.protocol.membership import Change, Founding, name, parse_name
from paxos_redis.protocol.messages import CITIZEN_ID, Entry

ROLE_CITIZEN = b"citizen"
ROLE_GOD = b"god"


def _get(fields: Mapping[Any, Any], name: str) -> bytes:
    value = fields.get(name.encode(), fields.get(name))
    if value is None:
        raise MalformedMessage(name, "missing")
    return value.encode() if isinstance(value, str) else bytes(value)


def _text(fields: Mapping[Any, Any], name: str) -> str:
    try:
        return _get(fields, name).decode()
    except UnicodeDecodeError:
        raise MalformedMessage(name, "not UTF-8") from None


def _citizen(fields: Mapping[Any, Any], name: str) -> str:
    text = _text(fields, name)
    if not CITIZEN_ID.fullmatch(text):
        raise MalformedMessage(name, f"invalid citizen id {text[:40]!r}: use 1 to 128 of "
                               "A-Z a-z 0-9 _ . : -")
    return text


def _number(fields: Mapping[Any, Any], name: str) -> int:
    raw = _get(fields, name)
    if not raw.isdigit() or len(raw) > 20:
        raise MalformedMessage(name, f"expected a decimal number, got {raw[:40]!r}")
    return int(raw)


#: most petitions, and most bytes of decree bodies, a citizen packs into one entry
PACK_MAX, PACK_BYTES = 256, 1 << 20


@dataclass(frozen=True, slots=True)
class PetitionEntry:
    """A citizen's petition: the decree and where to send the decree number.

    On the petitions stream a petition is one entry (``pid``, ``body``, ``reply``), or one
    of a pack that a citizen sent at once (``pack``: the decrees, ``reply``): the
    president then parses one entry, not hundreds.
    """

    decree: Decree
    reply: str

    def fields(self) -> dict[bytes, bytes]:
        return {b"pid": self.decree.petition.encode(), b"body": self.decree.body,
                b"reply": self.reply.encode()}

    @classmethod
    def parse(cls, fields: Mapping[Any, Any]) -> PetitionEntry:
        pid = _text(fields, "pid")
        if not pid:
            raise MalformedMessage("pid", "empty petition id")
        try:
            return cls(Decree(pid, _get(fields, "body")), _citizen(fields, "reply"))
        except ProtocolError as exc:
            raise MalformedMessage("pid", str(exc)) from None

    @classmethod
    def parse_many(cls, fields: Mapping[Any, Any]) -> list[PetitionEntry]:
        """The petitions of one entry: a pack, or one petition."""
        if b"pack" not in fields and "pack" not in fields:
            return [cls.parse(fields)]
        reply = _citizen(fields, "reply")
        try:
            decrees = unpack_decrees(_get(fields, "pack"))
        except ProtocolError as exc:
            raise MalformedMessage("pack", str(exc)) from None
        if not decrees or any(not d.petition for d in decrees):
            raise MalformedMessage("pack", "a pack holds one or more petitions, each with an id")
        return [cls(decree, reply) for decree in decrees]


def petition_fields(decrees: Sequence[Decree], citizen: str) -> list[dict[bytes, bytes]]:
    """Petitions-stream entries for ``decrees`` sent at once: a lone decree as one entry,
    more in packs of at most PACK_MAX decrees and PACK_BYTES of bodies."""
    out: list[dict[bytes, bytes]] = []
    chunk: list[Decree] = []
    size = 0
    for decree in [*decrees, None]:
        if chunk and (decree is None or len(chunk) >= PACK_MAX
                      or size + len(decree.body) > PACK_BYTES):
            out.append(PetitionEntry(chunk[0], citizen).fields() if len(chunk) == 1 else
                       {b"pack": pack_decrees(tuple(chunk)), b"reply": citizen.encode()})
            chunk, size = [], 0
        if decree is not None:
            chunk.append(decree)
            size += len(decree.body)
    return out


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a petition: passed at ``n``, or refused with ``error``."""

    pid: str
    n: int | None = None
    error: str | None = None

    def fields(self) -> dict[bytes, bytes]:
        out = {b"pid": self.pid.encode()}
        if self.n is not None:
            out[b"n"] = str(self.n).encode()
        if self.error is not None:
            out[b"error"] = self.error.encode()
        return out

    @classmethod
    def parse(cls, fields: Mapping[Any, Any]) -> Reply:
        pid = _text(fields, "pid")
        if b"n" in fields or "n" in fields:
            return cls(pid, n=_number(fields, "n"))
        return cls(pid, error=_text(fields, "error"))


def batch_replies(extra: list[tuple[str, Any]]) -> list[tuple[str, dict[bytes, bytes]]]:
    """Reply-stream entries for one batch: each citizen's decree numbers in ONE entry
    (``passed``), its receipts in one entry per ballot (``voted``), refusals one by one;
    entries that are neither a :class:`Reply` nor a :class:`Receipt` pass through."""
    out: list[tuple[str, dict[bytes, bytes]]] = []
    passed: dict[str, list[tuple[int, str]]] = {}
    voted: dict[tuple[str, int, int, Ballot], list[tuple[int, str]]] = {}
    for stream, item in extra:
        kind = type(item)
        if kind is Reply and item.n is not None:
            passed.setdefault(stream, []).append((item.n, item.pid))
        elif kind is Receipt:
            key = (stream, item.priest, item.of, item.ballot)
            voted.setdefault(key, []).append((item.n, item.petition))
        elif kind is Reply:
            out.append((stream, item.fields()))
        else:
            out.append((stream, item))
    for stream, pairs in passed.items():
        out.append((stream, {b"passed": pack_ids(pairs)}))
    for (stream, priest, of, ballot), pairs in voted.items():
        out.append((stream, {b"voted": pack_ids(pairs), b"priest": str(priest).encode(),
                             b"of": str(of).encode(), b"ballot": ballot.encode().encode()}))
    return out


def _packed(fields: Mapping[Any, Any], name: str) -> list[tuple[int, str]]:
    try:
        return unpack_ids(_get(fields, name))
    except ProtocolError as exc:
        raise MalformedMessage(name, str(exc)) from None


def parse_replies(fields: Mapping[Any, Any]) -> list[Reply] | list[Receipt]:
    """The answers in one reply-stream entry: a ``passed`` batch, one :class:`Reply`, or
    one priest's receipts (``voted``)."""
    if b"voted" in fields or "voted" in fields:
        priest, of = _number(fields, "priest"), _number(fields, "of")
        if not 0 < priest < 2**63 or not 0 < of <= 1000:
            raise MalformedMessage("priest", f"priest {priest} or member count {of} is out of "
                                   "range")
        try:
            ballot = Ballot.parse(_text(fields, "ballot"))
        except (ProtocolError, ValueError) as exc:
            raise MalformedMessage("ballot", str(exc)) from None
        return [Receipt("", priest, of, ballot, n, pid) for n, pid in _packed(fields, "voted")]
    if b"passed" not in fields and "passed" not in fields:
        return [Reply.parse(fields)]
    return [Reply(pid, n=n) for n, pid in _packed(fields, "passed")]


class Tally:
    """Receipts counted per petition: a majority of the members voting it at one decree number
    and one ballot passed it there, and the president that asked vouched that this number
    is where the law applies it.  Only petitions someone waits for are counted."""

    def __init__(self) -> None:
        self._votes: dict[str, dict[tuple[int, Ballot, int], set[int]]] = {}

    def add(self, receipt: Receipt) -> Reply | None:
        """Count ``receipt``; the answer once its petition has a majority, else None."""
        per = self._votes.setdefault(receipt.petition, {})
        voters = per.setdefault((receipt.n, receipt.ballot, receipt.of), set())
        voters.add(receipt.priest)
        if len(voters) <= receipt.of // 2:
            return None
        del self._votes[receipt.petition]
        return Reply(receipt.petition, n=receipt.n)

    def forget(self, pid: str) -> None:
        self._votes.pop(pid, None)


@dataclass(frozen=True, slots=True)
class LawQuery:
    """A citizen asks one priest for passed decrees ``start <= n < stop``."""

    req: str
    reply: str
    start: int
    stop: int

    def fields(self) -> dict[bytes, bytes]:
        return {b"role": ROLE_CITIZEN, b"code": b"1", b"req": self.req.encode(),
                b"reply": self.reply.encode(), b"from": str(self.start).encode(),
                b"to": str(self.stop).encode()}

    @classmethod
    def parse(cls, fields: Mapping[Any, Any]) -> LawQuery:
        if _get(fields, "code") != b"1":
            raise MalformedMessage("code", "unknown citizen code")
        return cls(_text(fields, "req"), _citizen(fields, "reply"), _number(fields, "from"),
                   _number(fields, "to"))


@dataclass(frozen=True, slots=True)
class LawAnswer:
    """A priest's answer covering decree numbers ``start <= n < upto`` of the query.

    ``entries`` holds the decrees of the law in that span: olive-day decrees, the
    Parliament's own no-ops and later copies of a retried petition are left out, so
    each petition appears once, at the number its citizen was given.  ``known`` is
    the priest's whole known prefix (``upto`` may stop short of it: answers are chunked).
    """

    req: str
    priest: int
    known: int
    upto: int
    entries: tuple[Entry, ...]

    def fields(self) -> dict[bytes, bytes]:
        return {b"req": self.req.encode(), b"priest": str(self.priest).encode(),
                b"known": str(self.known).encode(), b"upto": str(self.upto).encode(),
                b"decree": pack_entries(self.entries)}

    @classmethod
    def parse(cls, fields: Mapping[Any, Any]) -> LawAnswer:
        try:
            entries = unpack_entries(_get(fields, "decree"))
        except ProtocolError as exc:
            raise MalformedMessage("decree", str(exc)) from None
        return cls(_text(fields, "req"), _number(fields, "priest"), _number(fields, "known"),
                   _number(fields, "upto"), entries)


START_BALLOT = {b"role": ROLE_GOD, b"code": b"1"}
GOD_START, GOD_FOUND, GOD_CHANGE = b"1", b"2", b"3"


def found_fields(founding: Founding) -> dict[bytes, bytes]:
    """God's word to a founder: decree 0."""
    return {b"role": ROLE_GOD, b"code": GOD_FOUND, b"decree": founding.decree().encode()}


def parse_found(fields: Mapping[Any, Any]) -> Decree:
    try:
        decree = Decree.decode(_get(fields, "decree"))
        Founding.parse(decree)
    except ProtocolError as exc:
        raise MalformedMessage("decree", str(exc)) from None
    return decree


def change_fields(change: Change, nonce: str) -> dict[bytes, bytes]:
    """God's (or an operator's) word to the president: propose this change of membership."""
    return {b"role": ROLE_GOD, b"code": GOD_CHANGE,
            b"change": f"{change.op} {name(change.priest)}".encode(), b"nonce": nonce.encode()}


def parse_change(fields: Mapping[Any, Any]) -> tuple[Change, str]:
    nonce = _text(fields, "nonce")
    if not nonce.isalnum() or len(nonce) > 32:
        raise MalformedMessage("nonce", f"expected 1-32 letters or digits, got {nonce[:40]!r}")
    try:
        op, who = _text(fields, "change").split()
        return Change(op, parse_name(who)), nonce
    except (ValueError, ProtocolError) as exc:
        raise MalformedMessage("change", str(exc)) from None


def role_of(fields: Mapping[Any, Any]) -> bytes:
    value = fields.get(b"role", fields.get("role", b""))
    return value.encode() if isinstance(value, str) else bytes(value)
