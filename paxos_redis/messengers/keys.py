"""Every Redis key of the Parliament, built in one place.

All keys of one parliament live under ``paxos:{<parliament>}:``.  The braces are
a Redis Cluster *hash tag*: only the part between them is hashed, so every key of
a parliament lands on one slot and a pipeline or script may touch any of them.

======================  =========  ====================================================
key                     type       what it holds
======================  =========  ====================================================
``inbox(priest)``       stream     the priest's messenger: Synod messages to that priest
                                   (by identity), read through the :data:`PRIEST_GROUP` group
``petitions()``         stream     citizens' petitions, read by the president
``replies(citizen)``    stream     answers to one citizen's petitions
``deadletter()``        stream     entries no priest could read, with the reason
``stats()``             hash       counters (e.g. :data:`STAT_DEADLETTER`)
``heartbeat(priest)``   hash+TTL   a priest's sign of life; expires when it stops
``roster()``            zset       every priest that ever beat: identity -> last beat (ms)
``claim(priest)``       string+TTL which process acts as that priest now (host pid nonce)
``stamps()``            zset       the highest stamp each priest showed (see identity.py)
``config()``            hash       the founding (genesis, decree 0) once a god made it
``president()``         string     which priest presides (advisory: safety never needs it)
======================  =========  ====================================================

Keys are returned as ``str``; redis-py accepts them as they are, while stream
names *returned* by Redis are ``bytes`` (``decode_responses=False``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from paxos_redis.protocol.membership import name
from paxos_redis.protocol.messages import CITIZEN_ID

#: Consumer group on each priest's inbox (and on the petitions stream).
PRIEST_GROUP = "priests"
#: Field of :meth:`Keys.stats` counting dead-lettered entries.
STAT_DEADLETTER = "deadletter"

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class Keys:
    """The key names of one parliament (``Keys("senate").inbox(2)``)."""

    parliament: str

    PRIEST_GROUP: ClassVar[str] = PRIEST_GROUP

    def __post_init__(self) -> None:
        name = self.parliament
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise ValueError(
                f"invalid parliament name {name!r}: use 1 to 64 characters from "
                "A-Z a-z 0-9 _ . - (it becomes part of every Redis key)"
            )

    @property
    def prefix(self) -> str:
        """``paxos:{<parliament>}:``, the start of every key (``{...}`` is the hash tag)."""
        return f"paxos:{{{self.parliament}}}:"

    def pattern(self) -> str:
        """A SCAN/KEYS pattern matching every key of this parliament (braces are not glob)."""
        return f"{self.prefix}*"

    # ------------------------------------------------------------- streams

    def inbox(self, priest: int) -> str:
        """The messenger stream of the priest named ``priest``."""
        return f"{self.prefix}inbox:{_name(priest)}"

    def petitions(self) -> str:
        return f"{self.prefix}petitions"

    def replies(self, citizen_id: str) -> str:
        if not isinstance(citizen_id, str) or CITIZEN_ID.fullmatch(citizen_id) is None:
            raise ValueError(
                f"invalid citizen id {citizen_id!r}: use 1 to 128 characters from "
                "A-Z a-z 0-9 _ . : -"
            )
        return f"{self.prefix}replies:{citizen_id}"

    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    # ------------------------------------------------------------- other keys

    def stats(self) -> str:
        return f"{self.prefix}stats"

    def heartbeat(self, priest: int) -> str:
        return f"{self.prefix}heartbeat:{_name(priest)}"

    def roster(self) -> str:
        return f"{self.prefix}roster"

    def stamps(self) -> str:
        """Each priest's highest stamp (promises, votes, ballots written): an old copy of a
        ledger shows a lower one."""
        return f"{self.prefix}stamps"

    def claim(self, priest: int) -> str:
        """Which process acts as ``priest`` now: two processes never act as one priest."""
        return f"{self.prefix}claim:{_name(priest)}"

    def config(self) -> str:
        return f"{self.prefix}config"

    def president(self) -> str:
        return f"{self.prefix}president"

    def election(self) -> str:
        """A short-lived lock: one god at a time asks a priest to start a ballot."""
        return f"{self.prefix}election"


def _name(priest: int) -> str:
    if isinstance(priest, bool) or not isinstance(priest, int) or not 0 < priest < 1 << 48:
        raise ValueError(f"invalid priest identity {priest!r}: an integer in [1, 2**48)")
    return name(priest)
