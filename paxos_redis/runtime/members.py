"""``paxos-redis members``: list the membership, admit or remove a priest by decree.

A change goes to the president as god's word (sealed with the parliament's secret, like
a god's); the president proposes it, and the law decides whether it takes effect (one
change at a time; see :mod:`paxos_redis.protocol.membership`).  Before sending, a change
that would leave fewer live members than a majority of the new membership is refused
(:func:`paxos_redis.protocol.policy.refusal`).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from paxos_redis.errors import MembersError
from paxos_redis.messengers.citizens import change_fields
from paxos_redis.messengers.heartbeat import Beat, president_of, read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.messengers.wire import Wire
from paxos_redis.protocol.membership import Change, name
from paxos_redis.protocol.policy import refusal


def listing(beats: dict[int, Beat]) -> list[str]:
    """``PRIEST ROLE known=N`` lines: members first (as the president's law names them)."""
    president = president_of(beats)
    view = president or max(beats.values(), key=lambda b: b.known, default=None)
    members = set(view.members) if view else set()
    lines = []
    for priest in sorted(members, key=name):
        beat = beats.get(priest)
        state = f"known={beat.known}" if beat else "not alive"
        mark = " president" if beat and beat.president else ""
        lines.append(f"{name(priest)} voter {state}{mark}")
    for beat in sorted((b for b in beats.values() if b.priest not in members),
                       key=lambda b: b.name):
        lines.append(f"{beat.name} {beat.role} known={beat.known}")
    return lines


def change(redis: Any, keys: Keys, wire: Wire, op: str, priest: int, *,
           timeout: float = 30.0, poll: float = 0.1) -> str:
    """Ask the president to ``op`` (admit/remove) ``priest``; wait until it takes effect."""
    beats = read_roster(redis, keys)
    president = president_of(beats)
    if president is None:
        raise MembersError("no president acts (is a god running?): nothing can pass a change")
    if president.known < president.pending_until:
        raise MembersError(f"a change of membership is in flight: it takes effect at decree "
                           f"{president.pending_until} (one change at a time); try again then")
    wanted = Change(op, priest)
    problem = refusal(wanted, frozenset(president.members), frozenset(beats))
    if problem is not None:
        raise MembersError(f"refused: {problem}")
    redis.xadd(keys.inbox(president.priest),
               wire.seal_fields(change_fields(wanted, secrets.token_hex(8))))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = president_of(read_roster(redis, keys))
        if now is not None and (priest in now.members) == (op == "admit") \
                and now.known >= now.pending_until:
            return (f"{'admitted' if op == 'admit' else 'removed'} {name(priest)} by the decree "
                    f"at {now.members_at}; {len(now.members)} members vote from decree "
                    f"{now.pending_until}")
        time.sleep(poll)
    raise MembersError(f"the change was sent to president {president.name} but was not seen "
                       f"in effect within {timeout:g} s (a change in flight, or a new "
                       "president: see paxos-redis status)")
