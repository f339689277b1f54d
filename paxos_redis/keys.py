"""Every Redis key of the Parliament, built in one place.

All keys of one parliament live under ``paxos:{<parliament>}:``.  The braces are
a Redis Cluster *hash tag*: only the part between them is hashed, so every key of
a parliament lands on one slot and a pipeline or script may touch any of them.

======================  =========  ====================================================
key                     type       what it holds
======================  =========  ====================================================
``inbox(seat)``         stream     the priest's messenger: Synod messages to that seat,
                                   read through the :data:`PRIEST_GROUP` consumer group
``petitions()``         stream     citizens' petitions, read by :data:`PRESIDENT_GROUP`
``replies(citizen)``    stream     answers to one citizen's petitions
``law()``               stream     reserved for a feed of passed decrees; nothing writes it
                                   (citizens read the law from the priests)
``deadletter()``        stream     entries no priest could read, with the reason
``stats()``             hash       counters (e.g. :data:`STAT_DEADLETTER`)
``heartbeat(seat)``     hash+TTL   a priest's sign of life; expires when it stops
``config()``            hash       the parliament's provisioning: seats etc.
``president()``         string     which priest presides (advisory: safety never needs it)
``seat_claim(seat)``    string     which process holds a seat right now
======================  =========  ====================================================

Keys are returned as ``str``; redis-py accepts them as they are, while stream
names *returned* by Redis are ``bytes`` (``decode_responses=False``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from .protocol.messages import CITIZEN_ID

#: Consumer group on each priest's inbox.
PRIEST_GROUP = "priests"
#: Consumer group on the petitions stream (the president serves citizens).
PRESIDENT_GROUP = "president"
#: Field of :meth:`Keys.stats` counting dead-lettered entries.
STAT_DEADLETTER = "deadletter"

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class Keys:
    """The key names of one parliament (``Keys("senate").inbox(2)``)."""

    parliament: str

    PRIEST_GROUP: ClassVar[str] = PRIEST_GROUP
    PRESIDENT_GROUP: ClassVar[str] = PRESIDENT_GROUP

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

    def inbox(self, seat: int) -> str:
        """The messenger stream of the priest in ``seat``."""
        return f"{self.prefix}inbox:{_seat(seat)}"

    def petitions(self) -> str:
        return f"{self.prefix}petitions"

    def replies(self, citizen_id: str) -> str:
        if not isinstance(citizen_id, str) or CITIZEN_ID.fullmatch(citizen_id) is None:
            raise ValueError(
                f"invalid citizen id {citizen_id!r}: use 1 to 128 characters from "
                "A-Z a-z 0-9 _ . : -"
            )
        return f"{self.prefix}replies:{citizen_id}"

    def law(self) -> str:
        return f"{self.prefix}law"

    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    # ------------------------------------------------------------- other keys

    def stats(self) -> str:
        return f"{self.prefix}stats"

    def heartbeat(self, seat: int) -> str:
        return f"{self.prefix}heartbeat:{_seat(seat)}"

    def config(self) -> str:
        return f"{self.prefix}config"

    def president(self) -> str:
        return f"{self.prefix}president"

    def seat_claim(self, seat: int) -> str:
        return f"{self.prefix}seat:{_seat(seat)}:claim"

    def election(self) -> str:
        """A short-lived lock: one god at a time asks a priest to start a ballot."""
        return f"{self.prefix}election"


def _seat(seat: int) -> int:
    if isinstance(seat, bool) or not isinstance(seat, int) or seat < 0:
        raise ValueError(f"invalid seat {seat!r}: a seat is an integer >= 0")
    return seat
