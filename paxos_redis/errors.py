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


class ProtocolError(PaxosError, ValueError):
    """Input that breaks the protocol's rules: a malformed message or ledger record."""


class MalformedMessage(ProtocolError):
    """A stream entry that cannot be decoded into a message; names the field at fault."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"malformed message field {field!r}: {problem}")
        self.field = field
        self.problem = problem


class CorruptRecord(ProtocolError):
    """A ledger record whose bytes do not decode."""


class Refused(ProtocolError):
    """A message that is well formed but not ours: wrong parliament or failed authentication."""


class LawConflict(PaxosError):
    """A priest was told a different decree at a number whose decree it knows: two decrees
    passed at one number, which the protocol exists to prevent.  Not a malformed message
    to drop: the priest must stop, loudly, and keep its ledger for an operator."""


class LedgerError(PaxosError):
    """Base of every ledger error."""


class LedgerMissing(LedgerError):
    """There is no ledger where one was expected."""


class LedgerLocked(LedgerError):
    """Another process (or another open in this one) owns the ledger."""


class LedgerFailed(LedgerError):
    """A sync failed: the ink did not dry, so this priest must stop rather than answer."""


class CorruptLedger(LedgerError):
    """The ledger is damaged somewhere other than a torn tail (or is not a ledger at all)."""

    def __init__(self, path: object, offset: int, problem: str) -> None:
        super().__init__(
            f"ledger {path} is corrupt at byte {offset}: {problem}. The ledger was left "
            "untouched; restore it from a backup or inspect it before restarting this priest")
        self.path, self.offset, self.problem = path, offset, problem


class IdentityTaken(LedgerError):
    """Another process acts as this priest (a copy of the ledger elsewhere, or a twin)."""


class LedgerForgot(LedgerError):
    """The ledger is older than one its priest ran with: restored from an old copy."""


class SettingsError(PaxosError, ValueError):
    """A bad option value; the message names the option and the value."""


class MembersError(PaxosError):
    """A change refused before it was sent, or not seen taking effect; one line."""


class CliError(PaxosError):
    """A failure reported as one line, without a traceback."""


class BenchError(PaxosError):
    """The benchmark could not run or a process under test failed; the message says which."""
