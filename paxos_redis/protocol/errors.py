"""Errors raised by the protocol core."""

from __future__ import annotations


class ProtocolError(ValueError):
    """Input that breaks the protocol's rules: a malformed message or ledger record."""


class MalformedMessage(ProtocolError):
    """A stream entry that cannot be decoded into a message; names the field at fault."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"malformed message field {field!r}: {problem}")
        self.field = field
        self.problem = problem


class CorruptRecord(ProtocolError):
    """A ledger record whose bytes do not decode."""
