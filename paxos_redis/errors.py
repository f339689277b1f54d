"""Errors a citizen of the Parliament can act on.

Each one says what happened, with the values involved, and what to do next.
All derive from :class:`PaxosError`, so ``except PaxosError`` catches every
failure of the citizens' API that is not a programming error (``ValueError``,
``TypeError``) or a Redis misconfiguration (wrong password: redis-py's own
``AuthenticationError`` is raised as it is).
"""

from __future__ import annotations

from collections.abc import Sequence


class PaxosError(Exception):
    """Base class of the citizens' errors."""


class PetitionTimeout(PaxosError, TimeoutError):
    """No decree number came back for a petition before its timeout.

    The petition may still pass later: re-petition with the SAME ``pid`` and it
    passes at most once (a retried petition gets the number of its first passing).
    """

    def __init__(self, pids: str | Sequence[str], timeout: float, hint: str = "") -> None:
        self.pids: tuple[str, ...] = (pids,) if isinstance(pids, str) else tuple(pids)
        self.pid = self.pids[0] if self.pids else ""
        self.timeout = timeout
        self.hint = hint
        more = f" (and {len(self.pids) - 1} more)" if len(self.pids) > 1 else ""
        super().__init__(
            f"petition {self.pid!r}{more} got no decree number within {timeout:g} s. "
            f"It may still pass: retry with the same pid={self.pid!r} to pass it at most "
            f"once.{' ' + hint if hint else ''}"
        )


class PetitionRefused(PaxosError):
    """The Parliament answered a petition with an error instead of a decree number."""

    def __init__(self, pid: str, reason: str) -> None:
        self.pid = pid
        self.reason = reason
        super().__init__(
            f"petition {pid!r} was refused by the parliament: {reason}. It did not pass; "
            "fix what the reason names and petition again (a new pid is fine)"
        )


class DecreeTooLarge(PaxosError, ValueError):
    """A decree body over the client's ``max_decree_bytes``; raised before anything is sent."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"decree of {size} bytes exceeds the limit of {limit} bytes (max_decree_bytes); "
            "nothing was sent. Store large payloads elsewhere and pass a reference, split "
            "the decree, or raise max_decree_bytes if the priests accept larger decrees"
        )


class ParliamentUnavailable(PaxosError):
    """The Parliament (or the Redis its messengers use) could not be reached or asked."""
