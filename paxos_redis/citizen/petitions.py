"""A citizen's petitions, sans I/O: their ids and bodies, and one call's petitions in flight.

A citizen petitions the Parliament for a decree by sending it, under a petition id, to
the ``petitions`` stream, where the acting president reads it.  A petition may be lost
(a president killed mid-ballot), so a citizen sends the SAME petition id again every
``retry`` seconds until it is answered: the law passes a petition id once, and the
Parliament answers a retried petition with the number of its first passing.

:class:`Call` is one call of ``petition``, ``petition_many`` or ``sync``: which of its
petitions to send (again) and when, until when to wait, and the decree numbers filed
for it so far.  Time is an argument (``now``, seconds on the caller's clock); nothing
here reads a clock or talks to Redis.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Sequence

from paxos_redis.errors import DecreeTooLarge, PetitionRefused, PetitionTimeout
from paxos_redis.messengers.citizens import Reply
from paxos_redis.protocol.decree import INTERNAL, MAX_PETITION_ID, Decree

#: Petition ids of the citizens' ``sync`` no-ops: internal, so they never appear in the law.
SYNC_PREFIX = INTERNAL + "sync:"


def new_citizen_id() -> str:
    """A fresh citizen id: it names the citizen's reply stream."""
    return f"c-{uuid.uuid4().hex}"


def encode_body(decree: bytes | str, limit: int) -> bytes:
    """The decree body as bytes (``str`` is UTF-8); :class:`DecreeTooLarge` over ``limit``."""
    if isinstance(decree, str):
        body = decree.encode()
    elif isinstance(decree, (bytes, bytearray, memoryview)):
        body = bytes(decree)
    else:
        raise TypeError(f"a decree is bytes or str, got {type(decree).__name__}")
    if len(body) > limit:
        raise DecreeTooLarge(len(body), limit)
    return body


class FreshIds:
    """Fresh petition ids: a random 128-bit prefix per process and a counter (a uuid4 per
    petition costs a system call).  A forked child (an rq work horse, say) draws its own
    prefix, so parent and child never hand out the same id."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = uuid.uuid4().hex + "-"
        self.counter = itertools.count()

    def __call__(self) -> str:
        return self.prefix + str(next(self.counter))


fresh_id = FreshIds()


def petition_id(pid: str | None) -> str:
    """``pid`` checked (or a fresh one): citizens may not use the Parliament's own ids."""
    if pid is None:
        return fresh_id()
    if not isinstance(pid, str) or not pid or len(pid.encode()) > MAX_PETITION_ID:
        raise ValueError(f"invalid petition id {pid!r}: use a non-empty str of at most "
                         f"{MAX_PETITION_ID} UTF-8 bytes (or leave pid=None for a fresh one)")
    if pid.startswith(INTERNAL):
        raise ValueError(f"invalid petition id {pid!r}: ids starting with {INTERNAL!r} are "
                         "reserved for the Parliament's own no-ops and never appear in the law")
    return pid


def sync_decree() -> Decree:
    """The internal no-op a citizen passes as a barrier for its reads of the law."""
    return Decree(SYNC_PREFIX + uuid.uuid4().hex, b"")


def check_options(max_decree_bytes: int, retry: float) -> None:
    if not isinstance(max_decree_bytes, int) or max_decree_bytes < 1:
        raise ValueError(f"max_decree_bytes must be an int >= 1, got {max_decree_bytes!r}")
    if not retry > 0:
        raise ValueError(f"retry must be > 0 seconds, got {retry!r}")


def check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")


class Call:
    """One citizen call's petitions in flight, until each has its decree number.

    The petition ids of one call are distinct.  :meth:`due` says what to send now (the
    first time at once, then the still unanswered petitions every ``retry`` s),
    :attr:`until` until when to wait for an answer before asking again, and
    :meth:`take` files an answer (the session hands it every answer to one of the
    call's petitions).  The call is :attr:`done` once every petition passed or one
    was refused; it is over once :meth:`expired`, and then :meth:`timeout_error` says so.
    """

    __slots__ = ("decrees", "timeout", "deadline", "retry", "resend", "numbers", "refusal",
                 "done")

    def __init__(self, decrees: Sequence[Decree], now: float, timeout: float,
                 retry: float) -> None:
        self.decrees = decrees
        self.timeout, self.deadline, self.retry = timeout, now + timeout, retry
        self.resend = now                       # when to send the unanswered ones (again)
        self.numbers: dict[str, int] = {}       # decree numbers filed, by petition id
        self.refusal: Reply | None = None
        self.done = False

    def due(self, now: float) -> list[Decree]:
        """The petitions to send now: the unanswered ones, once every ``retry`` s."""
        if self.done or now < self.resend:
            return []
        self.resend = now + self.retry
        return [d for d in self.decrees if d.petition not in self.numbers]

    @property
    def until(self) -> float:
        """Until when to wait for answers before the call must act (send again or give up)."""
        return min(self.deadline, self.resend)

    def expired(self, now: float) -> bool:
        return not self.done and now >= self.deadline

    def ready(self) -> bool:
        return self.done

    def take(self, reply: Reply) -> bool:
        """File the first answer to one of the call's petitions; True if it ended the call."""
        if self.done:
            return False
        if reply.n is None:
            self.refusal = reply
        else:
            self.numbers[reply.pid] = reply.n
        self.done = self.refusal is not None or len(self.numbers) >= len(self.decrees)
        return self.done

    def result(self) -> list[int]:
        """The decree numbers, in the order of the call's petitions (it is :attr:`done`);
        :class:`PetitionRefused` if the Parliament refused one."""
        if self.refusal is not None:
            raise PetitionRefused(self.refusal.pid, self.refusal.error or "no reason given")
        return [self.numbers[d.petition] for d in self.decrees]

    def unanswered(self) -> list[str]:
        return [d.petition for d in self.decrees if d.petition not in self.numbers]

    def timeout_error(self, hint: str) -> PetitionTimeout:
        """The call ended unanswered; ``hint``: what the heartbeats say about why."""
        return PetitionTimeout(self.unanswered(), self.timeout, hint)
