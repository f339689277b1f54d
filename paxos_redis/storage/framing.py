"""What the ledger and the archive share on disk: checksummed frames, errors, careful writes.

A frame is ``[u32 length][u32 crc32(payload)][payload]``.  Readers report a bad frame
with the reason; deciding whether it is a torn tail (dropped) or damage (refused) is
the caller's business, since only it knows what may follow.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

FRAME = struct.Struct(">II")
_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX")) if hasattr(os, "sysconf") else 16
T = TypeVar("T")
#: Fault hook consulted before each durable step ("write", "fsync", "archive-write",
#: "archive-fsync", "compact-write", "compact-fsync", "compact-rename", "compact-dirsync");
#: it may raise OSError, as the disk would.
Faults = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TornTail:
    """What replay dropped: ``dropped`` bytes from ``offset`` to the old end of the file."""

    offset: int
    dropped: int
    problem: str


def framed(payload: bytes) -> bytes:
    """``payload`` as it lies on disk: length, checksum, payload."""
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def framed_parts(parts: list[bytes]) -> list[bytes]:
    """The frame of the payload ``b"".join(parts)``, as its header and ``parts``: written
    with :func:`write_parts`, a large payload is never copied into one buffer."""
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return [FRAME.pack(sum(map(len, parts)), crc), *parts]


def read_frame(data: bytes, pos: int,
               decode: Callable[[bytes], T]) -> tuple[T | None, int, str]:
    """(decoded payload or None, end of the frame, problem) for the frame at ``pos``.

    ``decode`` raises ``ValueError`` (of which the core's errors are kinds) on a bad payload.
    """
    if len(data) - pos < FRAME.size:
        return None, len(data), f"frame header cut short ({len(data) - pos} bytes)"
    length, crc = FRAME.unpack_from(data, pos)
    start, stop = pos + FRAME.size, pos + FRAME.size + length
    if stop > len(data):
        return None, len(data), f"frame claims {length} bytes but {len(data) - start} remain"
    payload = data[start:stop]
    if zlib.crc32(payload) != crc:
        return None, stop, f"checksum mismatch in a {length}-byte frame"
    try:
        return decode(payload), stop, ""
    except ValueError as exc:
        return None, stop, f"undecodable record ({exc})"


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_parts(fd: int, parts: list[bytes]) -> None:
    """Write ``parts`` one after the other, as ``write_all(fd, b"".join(parts))`` would,
    without joining them: ``writev`` of up to IOV_MAX buffers at a time."""
    views: list[bytes | memoryview] = [p for p in parts if p]
    i = 0
    while i < len(views):
        written = os.writev(fd, views[i : i + _IOV_MAX])
        while i < len(views) and written >= len(views[i]):
            written -= len(views[i])
            i += 1
        if written:                                  # a part written in part: its rest next
            views[i] = memoryview(views[i])[written:]


def fsync_dir(path: Path) -> None:
    """Make the names in ``path``'s directory durable (a new file, a rename)."""
    dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
