"""The roster: who is alive, as the priests' heartbeats in Redis tell it.

One type, one writer, one reader.  A priest writes its :class:`Beat` ten times a
second (:func:`beat_commands`: a hash with a short TTL, and its identity in the
``roster`` sorted set); gods, citizens and ``status`` read them all back with
:func:`read_roster`.  The roster is advisory, like everything in Redis: who votes
is law in the ledgers; a beat only says who is alive, what it knows and what its
law says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.membership import name

#: roster entries whose last beat is older than this are dropped by gods (ms)
FORGET_MS = 600_000


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Beat:
    """A priest's last heartbeat."""

    priest: int
    parliament: str = ""
    #: ``voter``, ``listener`` or ``unfounded`` (:attr:`Priest.role`)
    role: str = "unfounded"
    president: bool = False
    next_bal: str = "0.-1"
    known: int = 0
    highest: int = -1
    genesis: str = ""
    #: the members governing decree ``known``, as this priest's law says
    members: tuple[int, ...] = ()
    #: the decree number of the last change of membership (0: the founding)
    members_at: int = 0
    #: a change passed below this number is not in effect yet
    pending_until: int = 0
    pid: int = 0
    host: str = ""
    refused: int = 0
    time_ms: int = 0
    #: promises, votes and ballots tried written (:attr:`Priest.stamp`)
    stamp: int = 0

    def fields(self) -> dict[str, str]:
        out = {}
        for key, value in asdict(self).items():
            if key == "members":
                value = ",".join(str(m) for m in value)
            elif isinstance(value, bool):
                value = int(value)
            out[key] = str(value)
        return out

    @classmethod
    def parse(cls, priest: int, raw: Mapping[Any, Any]) -> Beat | None:
        """A beat from its hash (None if empty or unreadable: advisory, never fatal)."""
        if not raw:
            return None
        d = {_text(k): _text(v) for k, v in raw.items()}
        try:
            kw: dict[str, Any] = {}
            for f in fields(cls):
                if f.name not in d or f.name == "priest":
                    continue
                value = d[f.name]
                if f.name == "members":
                    kw[f.name] = tuple(int(m) for m in value.split(",") if m)
                elif f.name == "president":
                    kw[f.name] = value == "1"
                elif f.type in ("int", int):
                    kw[f.name] = int(value)
                else:
                    kw[f.name] = value
            return cls(priest, **kw)
        except ValueError:
            return None

    @property
    def name(self) -> str:
        return name(self.priest)


def president_of(beats: dict[int, Beat]) -> Beat | None:
    """The live president (the one with the highest ballot if two say so), or None."""
    presidents = [b for b in beats.values() if b.president]
    return max(presidents, key=lambda b: _ballot_key(b.next_bal), default=None)


def _ballot_key(text: str) -> tuple[int, int]:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (-1, -1)


def beat_commands(keys: Keys, beat: Beat, ttl_ms: int) -> list[tuple[Any, ...]]:
    """The commands that write ``beat`` (sent with the priest's other traffic)."""
    key = keys.heartbeat(beat.priest)
    return [("HSET", key, *(part for k, v in beat.fields().items() for part in (k, v))),
            ("PEXPIRE", key, ttl_ms),
            ("ZADD", keys.roster(), beat.time_ms, name(beat.priest)),
            ("ZADD", keys.stamps(), "GT", beat.stamp, name(beat.priest))]


def roster_ids(raw: Any) -> list[int]:
    out = []
    for member in raw or ():
        try:
            out.append(int(_text(member), 16))
        except ValueError:
            continue
    return [p for p in out if 0 < p < 1 << 48]


def read_roster(redis: Any, keys: Keys) -> dict[int, Beat]:
    """Every priest with a live heartbeat, by identity."""
    ids = roster_ids(redis.zrange(keys.roster(), 0, -1))
    if not ids:
        return {}
    pipe = redis.pipeline(transaction=False)
    for priest in ids:
        pipe.hgetall(keys.heartbeat(priest))
    beats = (Beat.parse(p, raw) for p, raw in zip(ids, pipe.execute(), strict=True))
    return {b.priest: b for b in beats if b is not None}


async def read_roster_async(redis: Any, keys: Keys) -> dict[int, Beat]:
    """:func:`read_roster` for redis-py's asyncio client."""
    ids = roster_ids(await redis.zrange(keys.roster(), 0, -1))
    if not ids:
        return {}
    pipe = redis.pipeline(transaction=False)
    for priest in ids:
        pipe.hgetall(keys.heartbeat(priest))
    beats = (Beat.parse(p, raw) for p, raw in zip(ids, await pipe.execute(), strict=True))
    return {b.priest: b for b in beats if b is not None}


def forget_silent(redis: Any, keys: Keys, now_ms: int) -> None:
    """Drop roster entries not renewed for FORGET_MS (priests long gone)."""
    redis.zremrangebyscore(keys.roster(), "-inf", now_ms - FORGET_MS)
