"""What one step of the core asks the runtime to do, in order.

The runtime must make every record in ``records`` durable (one fsync for the
batch: group commit) *before* any message in ``messages`` leaves: persist,
then send.  ``passed`` lists the decrees applied to the law by this step, in
decree-number order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .decree import Decree
from .messages import Message
from .records import Record


@dataclass(frozen=True, slots=True)
class Enacted:
    """Decree ``n`` was applied to the law.

    ``first`` is the decree number at which the same petition first passed:
    equal to ``n`` for a new petition, lower for a retried one (applied once).
    """

    n: int
    decree: Decree
    first: int

    @property
    def is_duplicate(self) -> bool:
        return self.first != self.n


@dataclass(slots=True)
class Effects:
    """Records to persist, then messages to send (``(seat, message)``), then decrees enacted."""

    records: list[Record] = field(default_factory=list)
    messages: list[tuple[int, Message]] = field(default_factory=list)
    passed: list[Enacted] = field(default_factory=list)

    def extend(self, other: Effects) -> None:
        self.records.extend(other.records)
        self.messages.extend(other.messages)
        self.passed.extend(other.passed)

    def __bool__(self) -> bool:
        return bool(self.records or self.messages or self.passed)
