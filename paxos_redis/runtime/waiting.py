"""The petitions a president has read from the petitions stream and not answered yet.

A petition waits here, at the priest that read it, until its decree passes (the law
applies it) or it is forgotten.  Its petitions-stream entry is acked only once none of
the petitions it carries (one, or a pack) waits any more: until then the entry stays in
the stream's pending list, so a president that dies with petitions waiting leaves them
to be reclaimed.  Memory stays bounded: a petition nobody re-sent for ``ttl_s`` is
forgotten (its citizen gave up long ago), and past ``most`` the oldest ones are.

What is decided about a petition (refused, answered from the law, proposed) is decided
in the core (:meth:`paxos_redis.protocol.Priest.triage`); this is only the priest
process's memory of whom to answer, and which entries to ack.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from paxos_redis.messengers.citizens import Reply
from paxos_redis.protocol import Applied
from paxos_redis.runtime.reply_streams import REPLY_TTL_S

#: a petition nobody re-sent for this long is forgotten (its citizen gave up long ago)
WAITING_TTL_S = REPLY_TTL_S
#: at most this many petitions wait for their decree number at one priest
WAITING_MAX = 100_000


@dataclass(slots=True)
class Waiting:
    """A petition waiting at the president for its decree number."""

    citizen: str
    entry_id: bytes
    since: float                  # when last read (a retry renews it)
    vouched: bool = False         # its voters send receipts (the core's ``Effects.vouched``)


class WaitingPetitions:
    """The petitions waiting at this priest for their decree numbers, and the entries of
    the petitions stream that carried them (acked once none of their petitions waits).

    Each method that lets a petition go appends, to the ``acks`` list it is given, the
    entries that may now be acked."""

    def __init__(self, *, ttl_s: float = WAITING_TTL_S, most: int = WAITING_MAX) -> None:
        self.ttl_s = ttl_s
        self.most = most
        #: pid -> the petition waiting for its decree number, oldest first
        self.petitions: OrderedDict[str, Waiting] = OrderedDict()
        #: petitions-stream entry id -> how many of its petitions wait (acked at none)
        self.unanswered: dict[bytes, int] = {}

    def wait_for(self, pid: str, citizen: str, entry_id: bytes, acks: list[Any]) -> None:
        """Note that ``pid`` waits for its number (an entry read again, reclaimed, counts
        once; a retry in another entry replaces the first copy, whose entry is released)."""
        petitions = self.petitions
        old = petitions.get(pid)
        if old is not None and old.entry_id == entry_id:
            old.since = time.monotonic()
            petitions.move_to_end(pid)
            return
        if old is not None:
            self.release(old.entry_id, acks)           # the retry replaces the first copy
        petitions[pid] = Waiting(citizen, entry_id, time.monotonic())
        petitions.move_to_end(pid)
        self.unanswered[entry_id] = self.unanswered.get(entry_id, 0) + 1

    def release(self, entry_id: bytes, acks: list[Any]) -> None:
        """One petition of ``entry_id`` waits no more; ack the entry after its last."""
        left = self.unanswered.pop(entry_id, 1) - 1
        if left > 0:
            self.unanswered[entry_id] = left
        else:
            acks.append(entry_id)

    def vouch(self, pids: Iterable[str]) -> None:
        """Our begin ballot asked its voters for receipts for ``pids``: they answer the
        citizen, so this president's reply is not needed (a citizen whose receipts were
        lost retries, and the retry is answered from the law)."""
        petitions = self.petitions
        for pid in pids:
            waiting = petitions.get(pid)
            if waiting is not None:
                waiting.vouched = True

    def answer(self, applied: Iterable[Applied], reply_to: Callable[[str], str],
               extra: list[Any], acks: list[Any]) -> None:
        """The petitions of ``applied`` that waited here wait no more: each gets its
        number, a ``(reply_to(citizen), Reply)`` appended to ``extra``, unless it was
        vouched for and this is its first passing (its voters' receipts answer it then);
        its entry is released."""
        pop, release = self.petitions.pop, self.release
        for a in applied:
            waiting = pop(a.decree.petition, None)
            if waiting is not None:
                if not (waiting.vouched and a.first == a.n):       # else receipts answer
                    extra.append((reply_to(waiting.citizen), Reply(a.decree.petition, n=a.first)))
                release(waiting.entry_id, acks)

    def forget(self, now: float, acks: list[Any]) -> None:
        """Drop petitions not re-sent for ``ttl_s`` (or the oldest, past ``most``); their
        entries are acked, so the petitions stream's pending list forgets them too."""
        petitions = self.petitions
        while petitions:
            pid, petition = next(iter(petitions.items()))
            if petition.since > now - self.ttl_s and len(petitions) <= self.most:
                return
            del petitions[pid]
            self.release(petition.entry_id, acks)
