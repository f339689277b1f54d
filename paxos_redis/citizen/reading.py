"""A citizen reads the law from the priests, sans I/O.

A citizen never talks to a priest directly: it sends a law query to every live priest's
inbox, and each priest answers on the citizen's reply stream with the passed decrees of
a span (chunked).  Every priest's law is a prefix of one law, so the answer that reaches
furthest wins.  A linearizable read first passes a ``sync`` no-op: its decree number is
a barrier, and the read returns at least every decree up to it.

:class:`LawReader` merges the answers of one read of the law; :class:`Round` is one round
of its queries (send, wait for the first answer, gather the others a little longer).
Time is an argument (``now``); nothing here reads a clock or talks to Redis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paxos_redis.errors import ParliamentUnavailable
from paxos_redis.messengers.citizens import LawAnswer, LawQuery
from paxos_redis.messengers.heartbeat import Beat
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.decree import INTERNAL

#: After the first law answer, how long to wait for the other priests' answers (s).
GATHER = 0.05
#: ``to`` of a law query with no ``stop``: "as far as you know" (fits the 20-digit wire field).
FAR = 2**63 - 1
#: Pauses between rounds while the priests have nothing new (s): the first, the longest.
PAUSE, MAX_PAUSE = 0.01, 0.2


def live_priests(keys: Keys, beats: Mapping[int, Beat]) -> list[int]:
    """The priests to ask for the law: every live one that knows a founding (heartbeats are
    advisory, and every priest's law is a prefix of one law)."""
    live = sorted(p for p, beat in beats.items() if beat.genesis)
    if not live:
        raise ParliamentUnavailable(
            f"no priest of parliament {keys.parliament!r} that knows its founding beats on "
            "this Redis: start the priest workers and a god (or check the Redis URL and "
            "parliament name)")
    return live


class LawReader:
    """One read of the law: merges chunked law answers into ``[(n, body)]`` from ``start``.

    The read is :attr:`done` once it reached ``stop``, or else everything the priests
    know and past the sync ``barrier`` (if any); it has until ``now + timeout``.
    """

    def __init__(self, start: int, stop: int | None, now: float = 0.0,
                 timeout: float = float("inf")) -> None:
        if not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be an int >= 0, got {start!r}")
        if stop is not None and (not isinstance(stop, int) or stop < start):
            raise ValueError(f"stop must be None or an int >= start ({start}), got {stop!r}")
        self.pos, self.stop = start, stop
        self.barrier: int | None = None
        self.timeout, self.deadline = timeout, now + timeout
        self.law: list[tuple[int, bytes]] = []
        self.done = stop is not None and start >= stop
        self.pause = PAUSE

    def query(self, req: str, citizen: str) -> LawQuery:
        return LawQuery(req, citizen, self.pos, FAR if self.stop is None else self.stop)

    def merge(self, answers: Sequence[LawAnswer]) -> bool:
        """Merge the furthest-reaching answer; False if it brought nothing new."""
        if not answers:
            return False
        best = max(answers, key=lambda a: a.upto)
        known = max(a.known for a in answers)
        if best.upto > self.pos:
            upto = best.upto if self.stop is None else min(best.upto, self.stop)
            self.law.extend((n, d.body) for n, d in best.entries
                            if self.pos <= n < upto and d.petition
                            and not d.petition.startswith(INTERNAL))
            self.pos = upto
            progressed = True
        else:
            progressed = False
        reached_stop = self.stop is not None and self.pos >= self.stop
        past_barrier = self.barrier is None or self.pos > self.barrier
        self.done = reached_stop or (self.pos >= known and past_barrier)
        return progressed

    def take(self, answers: Sequence[LawAnswer], now: float) -> float:
        """Merge a round's answers; how long to pause before the next round (0: at once).
        While the priests are still catching up the pauses double, up to MAX_PAUSE."""
        if self.merge(answers) or self.done:
            self.pause = PAUSE
            return 0.0
        pause = min(self.pause, max(0.0, self.deadline - now))
        self.pause = min(self.pause * 2, MAX_PAUSE)
        return pause

    def expired(self, now: float) -> bool:
        return not self.done and now >= self.deadline

    def describe(self) -> str:
        span = f"{self.pos}..{'' if self.stop is None else self.stop}"
        barrier = "" if self.barrier is None else f" (the sync barrier is decree {self.barrier})"
        return f"the law from decree {span}{barrier}"

    def timeout_error(self, hint: str) -> ParliamentUnavailable:
        """No priest answered in time; ``hint``: what the heartbeats say about why."""
        return ParliamentUnavailable(
            f"no priest answered with {self.describe()} within {self.timeout:g} s. {hint}")


class Round:
    """One round of law queries to the live ``priests``, answered under request id ``req``.

    Drive it with :meth:`wait_until`: it says until when to wait (None: the round is
    over, its :attr:`answers` are all there will be) and sets :attr:`send` when the
    query must go out (again) first: at once, then every ``retry`` s while no priest
    answered.  After the first answer it waits GATHER s more for the other priests.
    """

    __slots__ = ("req", "priests", "entries", "deadline", "retry", "resend", "gather_until",
                 "answers", "send")

    def __init__(self, req: str, priests: Sequence[int], entries: list[tuple[str, dict[bytes, bytes]]],
                 deadline: float, retry: float) -> None:
        self.req, self.priests, self.entries = req, priests, entries
        self.deadline, self.retry = deadline, retry
        self.resend = float("-inf")
        self.gather_until: float | None = None
        self.answers: list[LawAnswer] = []
        self.send = False

    def wait_until(self, now: float) -> float | None:
        """Until when to wait for answers, or None once the round is over."""
        self.send = False
        if not self.answers:
            if now >= self.deadline:
                return None
            if now >= self.resend:
                self.send, self.resend = True, min(self.deadline, now + self.retry)
            return self.resend
        if self.gather_until is None:
            self.gather_until = min(self.deadline, now + GATHER)
        if len(self.answers) >= len(self.priests) or now >= self.gather_until:
            return None
        return self.gather_until

    def ready(self) -> bool:
        """Whether what the round waits for came: a first answer, then every priest's."""
        wanted = 1 if self.gather_until is None else len(self.priests)
        return len(self.answers) >= wanted
