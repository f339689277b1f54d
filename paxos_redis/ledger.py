"""The priest's ledger: everything it promised, voted and learned, written "in indelible ink".

A priest answers no message until the ledger records that message depends on
have dried (persist, then send).  The file is append-only::

    b"PAXOS-LEDGER 1\\n"                            the header, once
    [u32 length][u32 crc32(payload)][payload]      one frame per record, payload = encode_record

The first record is the :class:`Seat`: the ledger is the priest's identity.
A crash mid-write leaves a *torn tail* (a frame cut short, or a last frame whose
checksum fails, or zeros), which replay drops, since no message could have
depended on it.  Damage anywhere else means durable promises may be lost: the
ledger is refused and left untouched for an operator.  An exclusive ``flock``
keeps two processes from ever owning one ledger.  :class:`MemoryLedger` is the
in-memory twin for tests and the simulator; ``crash()`` models kill -9.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .protocol.decree import INTERNAL, Decree
from .protocol.errors import CorruptRecord
from .protocol.records import (
    Passed,
    Promise,
    Record,
    Seat,
    Tried,
    Votes,
    decode_record,
    encode_record,
)

if TYPE_CHECKING:
    from typing_extensions import Self

MAGIC = b"PAXOS-LEDGER 1\n"
_FRAME = struct.Struct(">II")
_KIND = re.compile(rb"[SPTVL]")  # first payload byte of every record kind
#: Fault hook consulted by ``sync()`` with the stage ("write", then "fsync"); may raise OSError.
Faults = Callable[[str], None]
log = logging.getLogger(__name__)


class LedgerError(Exception):
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


@dataclass(frozen=True, slots=True)
class TornTail:
    """What replay dropped: ``dropped`` bytes from ``offset`` to the old end of the file."""

    offset: int
    dropped: int
    problem: str


def frame(record: Record) -> bytes:
    """One record as it lies in the ledger: length, checksum, payload."""
    payload = encode_record(record)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _read_frame(data: bytes, pos: int) -> tuple[Record | None, int, str]:
    """(record or None, end of the frame, problem) for the frame at ``pos``."""
    if len(data) - pos < _FRAME.size:
        return None, len(data), f"frame header cut short ({len(data) - pos} bytes)"
    length, crc = _FRAME.unpack_from(data, pos)
    start, stop = pos + _FRAME.size, pos + _FRAME.size + length
    if stop > len(data):
        return None, len(data), f"frame claims {length} bytes but {len(data) - start} remain"
    payload = data[start:stop]
    if zlib.crc32(payload) != crc:
        return None, stop, f"checksum mismatch in a {length}-byte frame"
    try:
        return decode_record(payload), stop, ""
    except CorruptRecord as exc:
        return None, stop, f"undecodable record ({exc})"


def _good_frame_after(data: bytes, pos: int) -> int | None:
    """Offset of a valid, decodable frame starting after ``pos`` (a corrupt length field
    can make the middle of a ledger look like a torn tail; this tells them apart)."""
    for match in _KIND.finditer(data, pos + 1 + _FRAME.size):
        candidate = match.start() - _FRAME.size
        if _read_frame(data, candidate)[0] is not None:
            return candidate
    return None


def replay(path: object, data: bytes) -> tuple[list[Record], TornTail | None]:
    """Decode a whole ledger file; the torn tail (if any) is reported, not applied."""
    if not data.startswith(MAGIC):
        raise CorruptLedger(path, 0, f"header is {data[:len(MAGIC)]!r}, expected {MAGIC!r}; "
                            "this is not a paxos-redis ledger (or a version this code cannot read)")
    records: list[Record] = []
    pos, torn = len(MAGIC), None
    while pos < len(data):
        record, stop, problem = _read_frame(data, pos)
        if record is not None:
            records.append(record)
            pos = stop
            continue
        at_end = stop == len(data) or data.count(0, pos) == len(data) - pos
        later = _good_frame_after(data, pos)
        if not (records and at_end and later is None):
            later_note = f", and a good frame follows at byte {later}" if later else ""
            raise CorruptLedger(path, pos, problem + later_note)
        torn = TornTail(pos, len(data) - pos, problem)
        break
    if not records or not isinstance(records[0], Seat):
        raise CorruptLedger(path, len(MAGIC), "the ledger does not begin with a Seat record")
    return records, torn


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Ledger:
    """What both ledgers share: the pending batch, group commit, refusal once failed."""

    name: str
    faults: Faults | None
    torn_tail: TornTail | None = None

    def __init__(self, records: list[Record], size: int) -> None:
        self.records = records  # the ledger as found when opened
        self.pending: list[Record] = []  # appended, not yet in indelible ink
        self._buffer = bytearray()  # their frames
        self.size, self.fsync_count = size, 0  # bytes durable; fsyncs made by sync()
        self._failed: OSError | None = None
        self._closed = False

    def append(self, records: Iterable[Record]) -> None:
        """Add ``records`` to the batch; nothing is durable until :meth:`sync`."""
        self._check_writable()
        batch = list(records)
        framed = [frame(record) for record in batch]  # a bad record fails here, adding nothing
        self._buffer += b"".join(framed)
        self.pending += batch

    def sync(self) -> None:
        """Write the batch and fsync once (group commit).  An OSError surfaces, and the
        ledger then refuses every write: a priest whose ink did not dry must stop."""
        self._check_writable()
        if not self.pending:
            return
        data, batch = bytes(self._buffer), self.pending
        self._buffer, self.pending = bytearray(), []
        try:
            self._flush(data, batch)
        except OSError as exc:
            self._failed = exc
            raise
        self.fsync_count += 1
        self.size += len(data)

    def write(self, records: Iterable[Record]) -> None:
        """Append ``records`` and make them durable with one fsync."""
        self.append(records)
        self.sync()

    def close(self) -> None:
        """Give up the ledger.  Records appended but never synced are dropped."""
        if not self._closed:
            self._closed = True
            if self.pending:
                log.warning("ledger %s closed with %d unsynced records: dropped",
                            self.name, len(self.pending))
            self._release()

    def _fault(self, stage: str) -> None:
        if self.faults is not None:
            self.faults(stage)

    def _flush(self, data: bytes, batch: list[Record]) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        pass

    def _check_writable(self) -> None:
        if self._closed:
            raise LedgerError(f"ledger {self.name} is closed; open it again to write")
        if self._failed is not None:
            raise LedgerFailed(
                f"ledger {self.name} failed to sync ({self._failed}); what it holds is unknown, "
                "so this priest must stop: restart it to replay the ledger from disk")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class FileLedger(_Ledger):
    """The durable ledger file; use :meth:`open`.  ``torn_tail`` says what replay dropped."""

    def __init__(self, path: Path, fd: int, records: list[Record], size: int,
                 torn_tail: TornTail | None, faults: Faults | None) -> None:
        super().__init__(records, size)
        self.path, self.name, self._fd = path, str(path), fd
        self.torn_tail, self.faults = torn_tail, faults

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: Seat | None = None,
             faults: Faults | None = None) -> FileLedger:
        """Lock and replay the ledger at ``path``, creating it with ``create`` if absent."""
        path = Path(path)
        if create is not None and not path.exists():
            _create(path, create)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            raise LedgerMissing(
                f"no ledger at {path}: a new priest needs create=Seat(...); a priest that had "
                "a ledger must get it back, since starting empty forgets its promises") from None
        try:
            _lock(fd, path)
            with open(fd, "rb", closefd=False) as file:
                data = file.read()
            records, torn = replay(path, data)
            if create is not None and records[0] != create:
                raise LedgerError(f"ledger {path} belongs to {records[0]}, not {create}; "
                                  "give each priest its own ledger path")
            if torn is not None:
                os.ftruncate(fd, torn.offset)
                os.fsync(fd)
                log.warning("ledger %s: dropped a torn tail of %d bytes at byte %d (%s)",
                            path, torn.dropped, torn.offset, torn.problem)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, records, torn.offset if torn else len(data), torn, faults)

    def _flush(self, data: bytes, batch: list[Record]) -> None:
        self._fault("write")
        _write_all(self._fd, data)
        self._fault("fsync")
        os.fsync(self._fd)

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            _lockfile(self.path).unlink(missing_ok=True)
        os.close(self._fd)  # closing the descriptor releases the flock


def _lockfile(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _lock(fd: int, path: Path) -> None:
    """Take the ledger's exclusive lock, and note our pid beside it for the next comer."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = "pid " + _lockfile(path).read_text().strip()
        except OSError:
            holder = "pid unknown"
        raise LedgerLocked(f"ledger {path} is locked: another process ({holder}) holds it. "
                           "A ledger has one owner: stop that priest first, or use another "
                           "ledger path") from None
    with contextlib.suppress(OSError):  # the pid note is a courtesy; the flock is the lock
        _lockfile(path).write_text(f"{os.getpid()}\n")


def _create(path: Path, seat: Seat) -> None:
    """Write header + Seat to a private file, fsync, then link it into place (never clobbers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        _write_all(fd, MAGIC + frame(seat))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first; open() checks it holds our Seat
    finally:
        tmp.unlink()
    dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dirfd)  # the new name is durable too
    finally:
        os.close(dirfd)


class MemoryLedger(_Ledger):
    """The in-memory twin: ``durable`` records survive :meth:`crash`, ``pending`` do not."""

    def __init__(self, create: Seat | None = None, *, records: Iterable[Record] = (),
                 faults: Faults | None = None) -> None:
        durable = list(records) or ([create] if create is not None else [])
        if not durable:
            raise LedgerMissing("memory ledger given no records and no create=Seat(...)")
        if not isinstance(durable[0], Seat):
            raise CorruptLedger("<memory>", len(MAGIC), "the ledger does not begin with a Seat")
        super().__init__(list(durable), len(MAGIC) + sum(len(frame(r)) for r in durable))
        self.name, self.faults, self.durable = "<memory>", faults, durable

    def _flush(self, data: bytes, batch: list[Record]) -> None:
        self._fault("write")
        self._fault("fsync")
        self.durable.extend(batch)

    def crash(self) -> MemoryLedger:
        """kill -9: this ledger is gone; return a fresh one holding only the durable records."""
        self._closed = True
        return MemoryLedger(records=self.durable)


# ---------------------------------------------------------------- reading it aloud

def _show(data: bytes, *, spaces: bool = True) -> str:
    """UTF-8 when printable (and unambiguous), else ``hex:...``."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "hex:" + data.hex()
    plain = text.isprintable() and not text.startswith("hex:") and (spaces or " " not in text)
    return text if plain else "hex:" + data.hex()


def _decree(decree: Decree) -> str:
    if decree.is_olive_day:
        return "olive-day"
    return f"id={_show(decree.petition.encode(), spaces=False)} decree={_show(decree.body)}"


def _entries(head: str, entries: tuple[tuple[int, Decree], ...]) -> list[str]:
    return [f"{head}n={n} {_decree(d)}" for n, d in entries] or [f"{head}(no decrees)"]


def _seat(r: Seat) -> list[str]:
    name = _show(r.parliament.encode(), spaces=False)
    return [f"seat parliament={name} priest={r.priest} seats={r.seats}"]


_DUMP: dict[type, Callable[[Any], list[str]]] = {
    Seat: _seat,
    Promise: lambda r: [f"promise {r.ballot}"],
    Tried: lambda r: [f"tried {r.ballot}"],
    Votes: lambda r: _entries(f"vote {r.ballot} ", r.entries),
    Passed: lambda r: _entries("passed ", r.entries),
}


def dump(records: Iterable[Record]) -> str:
    """The ledger, one line per record (a batch of votes or passed decrees: one per decree)."""
    return "".join(line + "\n" for record in records for line in _DUMP[type(record)](record))


def law_lines(records: Iterable[Record]) -> list[str]:
    """The law as ``N,DECREE`` lines by decree number, for ``diff`` between priests.

    Olive-day decrees and the Parliament's own no-ops (sync barriers) are left out, as is
    a petition already passed at a lower number (the
    law holds a retried petition once).  Two different decrees passed at one number break
    the Parliament's one promise, so that raises :class:`LedgerError`.
    """
    passed: dict[int, Decree] = {}
    for record in records:
        for n, decree in record.entries if isinstance(record, Passed) else ():
            if passed.setdefault(n, decree) != decree:
                raise LedgerError(f"decree {n} passed twice, as {_decree(passed[n])} and as "
                                  f"{_decree(decree)}: two laws at one number, safety violated")
    lines, seen = [], set()
    for n in sorted(passed):
        decree = passed[n]
        if decree.is_olive_day or decree.petition.startswith(INTERNAL):
            continue
        if decree.petition not in seen:
            seen.add(decree.petition)
            lines.append(law_line(n, decree.body))
    return lines


def law_line(n: int, body: bytes) -> str:
    """One line of the law as the CLI prints it: ``N,DECREE`` (UTF-8 text, else hex:...)."""
    return f"{n},{_show(body)}"


__all__ = [
    "MAGIC", "CorruptLedger", "Faults", "FileLedger", "LedgerError", "LedgerFailed",
    "LedgerLocked", "LedgerMissing", "MemoryLedger", "TornTail", "dump", "frame", "law_line", "law_lines",
    "replay",
]
