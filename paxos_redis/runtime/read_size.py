"""How many entries a priest reads from its streams at once.

At most ``Settings.read_count``, and fewer when the entries read lately were large:
about READ_BYTES a read (so a batch's memory stays bounded however large its decrees),
but never fewer than READ_MIN entries.
"""

from __future__ import annotations

from typing import Any

#: about this many bytes of entries per read (but at least READ_MIN entries)
READ_BYTES = 16 << 20
READ_MIN = 16


class ReadSize:
    """Entries per read (``count``, at most ``most``), from the average size of the
    entries read lately (``entry_bytes``: bytes of their field values)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.count = most
        self.entry_bytes = 0.0

    def fit(self, got: dict[str, list[tuple[bytes, Any]]]) -> None:
        """Adjust ``count`` to the entries of one read (stream -> its entries)."""
        entries = [fields for batch in got.values() for _, fields in batch]
        if not entries:
            return
        size = sum(len(v) for fields in entries if isinstance(fields, dict)
                   for v in fields.values()) / len(entries)
        self.entry_bytes += (size - self.entry_bytes) / 4
        self.count = max(READ_MIN, min(self.most, int(READ_BYTES // max(1.0, self.entry_bytes))))
