"""The archive: a priest's applied law, moved out of its ledger by compaction.

A priest keeps only recent law in memory and in its ledger; everything older lies in
its archive, the file ``<ledger>.law`` beside the ledger (same lock), read on demand
for citizens' law reads and for lagging priests' inquiries::

    b"PAXOS-LAW 1\\n"                                 the header, once
    [u32 length][u32 crc32(payload)][payload]         one frame per chunk of decrees

    payload = u64 start, u32 count, u32 dups, dups x (u64 n, u64 first),
              then the packed entries start .. start+count-1 (decree number, decree)

Chunks are consecutive from decree 0; ``dups`` lists the later copies of retried
petitions with the number where each first passed.  The file is append-only and
written only by compaction, which fsyncs it before the ledger forgets those decrees.
Opening scans every frame (checksums included) into a small index (one entry per
chunk of up to :data:`CHUNK` decrees), so a read costs one ``pread``.
:class:`MemoryArchive` is the in-memory twin.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
import zlib
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path

from paxos_redis.errors import CorruptLedger, LedgerFailed, ProtocolError
from paxos_redis.protocol.codec import pack_entries, unpack_entries
from paxos_redis.protocol.effects import Applied
from paxos_redis.storage.framing import FRAME, Faults, TornTail, framed_parts, fsync_dir, write_parts

MAGIC = b"PAXOS-LAW 1\n"
#: decrees per frame (the index holds one entry per frame)
CHUNK = 1024
_HEAD = struct.Struct(">QII")
_DUP = struct.Struct(">QQ")


def archive_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".law")


def encode_chunk(entries: Sequence[Applied]) -> bytes:
    return b"".join(chunk_parts(entries))


def chunk_parts(entries: Sequence[Applied]) -> list[bytes]:
    """A chunk's payload as its head (start, count, duplicates) and its packed entries."""
    dups = [(e.n, e.first) for e in entries if e.first != e.n]
    return [_HEAD.pack(entries[0].n, len(entries), len(dups))
            + b"".join(_DUP.pack(n, first) for n, first in dups), pack_entries(entries)]


def decode_chunk(payload: bytes) -> list[Applied]:
    """A chunk's decrees; a ProtocolError if it is not a well-formed chunk."""
    if len(payload) < _HEAD.size:
        raise ProtocolError(f"chunk header needs {_HEAD.size} bytes, has {len(payload)}")
    start, count, ndups = _HEAD.unpack_from(payload)
    pos = _HEAD.size + ndups * _DUP.size
    if pos > len(payload):
        raise ProtocolError(f"chunk claims {ndups} duplicates past its end")
    firsts = dict(_DUP.unpack_from(payload, _HEAD.size + i * _DUP.size) for i in range(ndups))
    entries = unpack_entries(payload[pos:])
    if [n for n, _ in entries] != list(range(start, start + count)):
        raise ProtocolError(f"chunk of {count} from decree {start} holds other numbers")
    return [Applied(n, d, firsts.get(n, n)) for n, d in entries]


def _check_append(end: int, entries: Sequence[Applied]) -> None:
    if entries and [e.n for e in entries] != list(range(end, end + len(entries))):
        raise ValueError(f"the archive ends at decree {end}; entries to append must follow "
                         f"on consecutively, got numbers from {entries[0].n}")


class MemoryArchive:
    """The in-memory twin: appended decrees are durable at once (they survive a crash)."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.entries: list[Applied] = []
        self.faults = faults

    @property
    def end(self) -> int:
        return len(self.entries)

    def read(self, start: int, limit: int) -> list[Applied]:
        return self.entries[start : start + max(0, limit)] if start >= 0 else []

    def append(self, entries: Sequence[Applied]) -> None:
        _check_append(self.end, entries)
        if self.faults is not None:
            self.faults("archive-write")
            self.faults("archive-fsync")
        self.entries.extend(entries)


class FileArchive:
    """The archive file; use :meth:`open` (under the ledger's lock)."""

    def __init__(self, path: Path, faults: Faults | None = None) -> None:
        self.path, self.faults = path, faults
        self.fd: int | None = None
        self.size = 0                        # bytes of whole, checked frames (and header)
        self.starts, self.offsets = array("q"), array("q")
        self.end = 0
        self.torn_tail: TornTail | None = None
        self._cache: tuple[int, list[Applied]] | None = None
        self._failed: OSError | None = None

    @classmethod
    def open(cls, path: Path, faults: Faults | None = None, *,
             writable: bool = True) -> FileArchive:
        """Scan the archive at ``path`` (absent: empty).  A torn tail is found, not cut:
        the ledger first checks the archive still holds what it claims, then calls
        :meth:`drop_torn_tail`.  Damage before the tail raises :class:`CorruptLedger`."""
        archive = cls(path, faults)
        mode = os.O_RDWR | os.O_APPEND if writable else os.O_RDONLY
        try:
            archive.fd = os.open(path, mode | os.O_CLOEXEC)
        except FileNotFoundError:
            return archive
        try:
            archive._scan()
        except BaseException:
            archive.close()
            raise
        return archive

    def _scan(self) -> None:
        assert self.fd is not None
        total = os.fstat(self.fd).st_size
        header = os.pread(self.fd, len(MAGIC), 0)
        if total < len(MAGIC) and MAGIC.startswith(header):    # died creating it
            self.torn_tail = TornTail(0, total, "the archive's header is cut short")
            return
        if header != MAGIC:
            raise CorruptLedger(self.path, 0, f"the archive's header is not {MAGIC!r}")
        pos = len(MAGIC)
        while pos < total:
            head = os.pread(self.fd, FRAME.size, pos)
            problem = self._bad_frame(head, pos, total)
            if problem:
                self.torn_tail = TornTail(pos, total - pos, problem)
                break
            pos += FRAME.size + FRAME.unpack(head)[0]
        self.size = pos

    def _bad_frame(self, head: bytes, pos: int, total: int) -> str:
        """Index the frame at ``pos``; "" if good, else why it is a torn tail."""
        assert self.fd is not None
        if len(head) < FRAME.size:
            return f"frame header cut short ({len(head)} bytes)"
        length, crc = FRAME.unpack(head)
        stop = pos + FRAME.size + length
        if stop > total:
            return f"frame claims {length} bytes but {total - pos - FRAME.size} remain"
        payload = os.pread(self.fd, length, pos + FRAME.size)
        problem = ""
        if zlib.crc32(payload) != crc:
            problem = f"checksum mismatch in a {length}-byte frame"
        elif len(payload) < _HEAD.size:
            problem = "a frame too short for a chunk header"
        if problem and stop == total:
            return problem                           # the last frame: a torn tail
        if problem:
            raise CorruptLedger(self.path, pos, problem + " (not at the end of the archive)")
        start, count, _ = _HEAD.unpack_from(payload)
        if start != self.end or count < 1:
            raise CorruptLedger(self.path, pos, f"chunk of {count} from decree {start} does "
                                f"not follow on from decree {self.end}")
        self.starts.append(start)
        self.offsets.append(pos)
        self.end = start + count
        return ""

    def drop_torn_tail(self) -> None:
        """Cut what a crash mid-append left after the last whole frame."""
        if self.torn_tail is not None and self.fd is not None:
            os.ftruncate(self.fd, self.torn_tail.offset)
            os.fsync(self.fd)

    def read(self, start: int, limit: int) -> list[Applied]:
        out: list[Applied] = []
        n, stop = start, min(self.end, start + max(0, limit))
        while 0 <= n < stop:
            chunk = self._chunk(bisect.bisect_right(self.starts, n) - 1)
            got = chunk[n - chunk[0].n : stop - chunk[0].n]
            if not got:                              # cannot happen with a sound index
                raise CorruptLedger(self.path, 0, f"no chunk holds decree {n}")
            out.extend(got)
            n = start + len(out)
        return out

    def chunks(self) -> Iterator[list[Applied]]:
        """Every chunk in order (reads the whole archive, one chunk at a time)."""
        for index in range(len(self.starts)):
            yield self._chunk(index)

    def _chunk(self, index: int) -> list[Applied]:
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        assert self.fd is not None
        pos = self.offsets[index]
        length, crc = FRAME.unpack(os.pread(self.fd, FRAME.size, pos))
        payload = os.pread(self.fd, length, pos + FRAME.size)
        try:
            if zlib.crc32(payload) != crc:
                raise ProtocolError("checksum mismatch")
            chunk = decode_chunk(payload)
        except ProtocolError as exc:
            raise CorruptLedger(self.path, pos, f"chunk unreadable ({exc})") from None
        self._cache = (index, chunk)
        return chunk

    def append(self, entries: Sequence[Applied]) -> None:
        """Append ``entries`` (consecutive from :attr:`end`) and fsync: durable on return.
        An OSError leaves the archive refusing appends (a restart drops the torn tail)."""
        _check_append(self.end, entries)
        if self._failed is not None:
            raise LedgerFailed(f"archive {self.path} failed to append ({self._failed}); "
                               "restart this priest to recover it")
        if not entries:
            return
        chunks = [entries[i : i + CHUNK] for i in range(0, len(entries), CHUNK)]
        frames = [framed_parts(chunk_parts(chunk)) for chunk in chunks]
        created = self.fd is None
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                                  0o644)
            header = b"" if self.size else MAGIC
            if header:
                os.ftruncate(self.fd, 0)             # nothing, or a header cut short
            self._fault("archive-write")
            write_parts(self.fd, [header, *(part for frame in frames for part in frame)])
            self._fault("archive-fsync")
            os.fsync(self.fd)
            if created:
                fsync_dir(self.path)                 # the new name is durable too
        except OSError as exc:
            self._failed = exc
            raise
        pos = self.size or len(MAGIC)
        for chunk, frame in zip(chunks, frames, strict=True):
            self.starts.append(chunk[0].n)
            self.offsets.append(pos)
            pos += sum(map(len, frame))
        self.size, self.end = pos, entries[-1].n + 1

    def _fault(self, stage: str) -> None:
        if self.faults is not None:
            self.faults(stage)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
