"""Which change of membership to ask for next: the gods' and operators' policy, pure.

The law decides whether a change takes effect (:mod:`.membership`); this decides which
change to propose, from what the proposer sees: the members, who is alive, and which
listeners have caught up.  Gods follow a target number of voters; an operator's change
is checked by :func:`refusal` first.  Both live here, beside the rules they serve, so the
simulator exercises the same code as the running parliament.
"""

from __future__ import annotations

from collections.abc import Collection, Set
from dataclasses import dataclass

from paxos_redis.protocol.membership import Change, name


def majority(size: int) -> int:
    return size // 2 + 1


def refusal(change: Change, members: Set[int], live: Collection[int]) -> str | None:
    """Why ``change`` would leave the parliament unable to pass decrees (fewer live members
    than a majority of the new membership), or would do nothing; None if it is fine."""
    who = name(change.priest)
    if change.op == "admit":
        if change.priest in members:
            return f"{who} is a member already"
        if change.priest not in live:
            return f"{who} is not alive: admit a running priest (a listener that caught up)"
        new = set(members) | {change.priest}
    else:
        if change.priest not in members:
            return f"{who} is not a member"
        if len(members) == 1:
            return f"{who} is the last member"
        new = set(members) - {change.priest}
    alive = len(new & set(live))
    if alive < majority(len(new)):
        return (f"after it, {alive} of {len(new)} members would be alive, fewer than the "
                f"majority of {majority(len(new))} needed to pass anything")
    return None


@dataclass(frozen=True, slots=True)
class View:
    """What a god sees: the members in force, the live priests, the caught-up listeners,
    and the members gone for longer than its patience."""

    members: frozenset[int]
    live: frozenset[int]
    ready: tuple[int, ...]
    gone: frozenset[int]
    #: the president (removed last when there are too many members)
    president: int = 0


def plan(view: View, target: int) -> Change | None:
    """The next change toward ``target`` voters: remove a member long gone (before any
    admission: replacing a dead host removes first), then admit a ready listener while
    there are fewer than ``target``, or remove a member while there are more (one not
    alive first, the president last).  Never a change :func:`refusal` refuses."""
    members = view.members
    for gone in sorted(view.gone & members):
        change = Change("remove", gone)
        if refusal(change, members, view.live) is None:
            return change
    if len(members) < target:
        for priest in view.ready:
            change = Change("admit", priest)
            if priest not in members and refusal(change, members, view.live) is None:
                return change
    if len(members) > target:
        for priest in sorted(members, key=lambda p: (p in view.live, p == view.president, p)):
            change = Change("remove", priest)
            if refusal(change, members, view.live) is None:
                return change
    return None
