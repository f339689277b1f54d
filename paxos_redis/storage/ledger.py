"""The priest's ledger: everything it promised, voted and learned, written "in indelible ink".

A priest answers no message until the ledger records that message depends on
have dried (persist, then send).  The file is append-only::

    b"PAXOS-LEDGER 2\\n"                            the header, once
    [u32 length][u32 crc32(payload)][payload]      one frame per record, payload = encode_record

The first record is the :class:`Identity`: the ledger is the priest (a new ledger is a new
priest, with a new identity).
A crash mid-write leaves a *torn tail* (a frame cut short, or a last frame whose
checksum fails, or zeros), which replay drops, since no message could have
depended on it.  Damage anywhere else means durable promises may be lost: the
ledger is refused and left untouched for an operator.  An exclusive ``flock``
keeps two processes from ever owning one ledger.

Compaction (:mod:`paxos_redis.protocol.compaction`) keeps the ledger small: the applied law
goes to the archive beside it (:mod:`paxos_redis.storage.archive`, fsynced first), then
:meth:`FileLedger.replace` writes what is still needed to a new file, fsyncs it,
renames it over the ledger and fsyncs the directory; a crash at any point leaves
the old ledger or the new one, each valid with the archive.
:class:`MemoryLedger` is the in-memory twin for tests; ``crash()`` models kill -9.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from paxos_redis.errors import CorruptLedger, LedgerError, LedgerFailed, LedgerLocked, LedgerMissing
from paxos_redis.protocol.records import Identity, Record
from paxos_redis.storage.archive import FileArchive, MemoryArchive, archive_path
from paxos_redis.storage.framing import Faults, TornTail, fsync_dir, write_all, write_parts
from paxos_redis.storage.replay import MAGIC, check_archived, frame, frame_parts, replay, replay_ledger
from paxos_redis.storage.text import dump, law_line, law_lines

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)


class _Ledger:
    """What both ledgers share: the pending batch, group commit, refusal once failed."""

    name: str
    faults: Faults | None
    torn_tail: TornTail | None = None

    def __init__(self, records: list[Record], size: int,
                 archive: FileArchive | MemoryArchive) -> None:
        #: the ledger as found when opened (its owner may clear it once replayed)
        self.records = records
        #: the law moved out of the ledger by compaction
        self.archive = archive
        self.pending: list[Record] = []  # appended, not yet in indelible ink
        self._parts: list[bytes] = []  # their frames, in parts (written without a join)
        self._pending_size = 0         # their bytes
        self.size, self.fsync_count = size, 0  # bytes durable; fsyncs made by sync()
        self._failed: OSError | None = None
        self._closed = False

    def append(self, records: Iterable[Record]) -> None:
        """Add ``records`` to the batch; nothing is durable until :meth:`sync`."""
        self._check_writable()
        batch = list(records)
        framed_ = [frame_parts(record) for record in batch]  # a bad record fails here,
        for parts in framed_:                                 # adding nothing
            self._parts += parts
            self._pending_size += sum(map(len, parts))
        self.pending += batch

    @property
    def pending_bytes(self) -> int:
        """Bytes of records appended but not yet synced."""
        return self._pending_size

    def sync(self) -> None:
        """Write the batch and fsync once (group commit).  An OSError surfaces, and the
        ledger then refuses every write: a priest whose ink did not dry must stop."""
        self._check_writable()
        if not self.pending:
            return
        parts, size, batch = self._parts, self._pending_size, self.pending
        self._parts, self._pending_size, self.pending = [], 0, []
        try:
            self._flush(parts, batch)
        except OSError as exc:
            self._failed = exc
            raise
        self.fsync_count += 1
        self.size += size

    def write(self, records: Iterable[Record]) -> None:
        """Append ``records`` and make them durable with one fsync."""
        self.append(records)
        self.sync()

    def replace(self, records: list[Record]) -> None:
        """Compaction: the ledger becomes exactly ``records`` (atomically, durably).

        Only between batches (nothing pending).  The caller archived the law the new
        ledger no longer holds *before* calling this.  An OSError surfaces and the ledger
        then refuses every write, as for a failed sync.
        """
        self._check_writable()
        if self.pending:
            raise LedgerError(f"ledger {self.name} has {len(self.pending)} records not yet "
                              "synced: sync before compacting")
        if not records or not isinstance(records[0], Identity):
            raise LedgerError("a compacted ledger must begin with its Identity record")
        data = MAGIC + b"".join(frame(record) for record in records)
        try:
            self._replace(data, records)
        except OSError as exc:
            self._failed = exc
            raise
        self.size = len(data)

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

    def _flush(self, parts: list[bytes], batch: list[Record]) -> None:
        raise NotImplementedError

    def _replace(self, data: bytes, records: list[Record]) -> None:
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

    archive: FileArchive

    def __init__(self, path: Path, fd: int, records: list[Record], size: int,
                 torn_tail: TornTail | None, faults: Faults | None,
                 archive: FileArchive) -> None:
        super().__init__(records, size, archive)
        self.path, self.name, self._fd = path, str(path), fd
        self.torn_tail, self.faults = torn_tail, faults

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: Identity | None = None,
             faults: Faults | None = None) -> FileLedger:
        """Lock and replay the ledger at ``path`` (and scan its archive), creating it with
        ``create`` if absent."""
        path = Path(path)
        if create is not None and not path.exists():
            _create(path, create)
        fd = _open_locked(path)
        archive = None
        try:
            with open(fd, "rb", closefd=False) as file:
                data = file.read()
            records, torn = replay_ledger(path, data)
            if create is not None and records[0] != create:
                raise LedgerError(f"ledger {path} belongs to {records[0]}, not {create}; "
                                  "give each priest its own ledger path")
            archive = FileArchive.open(archive_path(path), faults)
            check_archived(records, archive)
            if archive.torn_tail is not None:
                archive.drop_torn_tail()
                log.warning("archive %s: dropped a torn tail of %d bytes (a compaction that "
                            "died before it was durable)", archive.path, archive.torn_tail.dropped)
            if torn is not None:
                os.ftruncate(fd, torn.offset)
                os.fsync(fd)
                log.warning("ledger %s: dropped a torn tail of %d bytes at byte %d (%s)",
                            path, torn.dropped, torn.offset, torn.problem)
            with contextlib.suppress(FileNotFoundError):
                _compact_tmp(path).unlink()          # a compaction that died before its rename
        except BaseException:
            if archive is not None:
                archive.close()
            os.close(fd)
            raise
        return cls(path, fd, records, torn.offset if torn else len(data), torn, faults, archive)

    def _flush(self, parts: list[bytes], batch: list[Record]) -> None:
        self._fault("write")
        write_parts(self._fd, parts)
        self._fault("fsync")
        os.fsync(self._fd)

    def _replace(self, data: bytes, records: list[Record]) -> None:
        tmp = _compact_tmp(self.path)
        fd = os.open(tmp, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # locked before it has the name
            self._fault("compact-write")
            write_all(fd, data)
            self._fault("compact-fsync")
            os.fsync(fd)
            self._fault("compact-rename")
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            raise
        old, self._fd = self._fd, fd
        os.close(old)                                        # the old inode, and its lock
        self._fault("compact-dirsync")
        fsync_dir(self.path)

    def _release(self) -> None:
        self.archive.close()
        with contextlib.suppress(OSError):
            _lockfile(self.path).unlink(missing_ok=True)
        os.close(self._fd)  # closing the descriptor releases the flock


def _lockfile(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _compact_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.compact")


def _open_locked(path: Path) -> int:
    """Open the ledger and take its lock, on the file that holds the name once locked
    (a compaction by the owner may rename a new file over it meanwhile)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            raise LedgerMissing(
                f"no ledger at {path}: a new priest needs create=Identity(...); a priest that had "
                "a ledger must get it back, since starting empty forgets its promises") from None
        try:
            _lock(fd, path)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)                                         # replaced under us: again


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


def _create(path: Path, identity: Identity) -> None:
    """Write header + Identity to a private file, fsync, then link it into place (never
    clobbers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, MAGIC + frame(identity))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first; open() checks it holds our Identity
    finally:
        tmp.unlink()
    fsync_dir(path)  # the new name is durable too


class MemoryLedger(_Ledger):
    """The in-memory twin: ``durable`` records survive :meth:`crash`, ``pending`` do not;
    so does its archive (appended decrees are durable at once)."""

    archive: MemoryArchive

    def __init__(self, create: Identity | None = None, *, records: Iterable[Record] = (),
                 faults: Faults | None = None, archive: MemoryArchive | None = None) -> None:
        durable = list(records) or ([create] if create is not None else [])
        if not durable:
            raise LedgerMissing("memory ledger given no records and no create=Identity(...)")
        if not isinstance(durable[0], Identity):
            raise CorruptLedger("<memory>", len(MAGIC),
                                "the ledger does not begin with an Identity")
        super().__init__(list(durable), len(MAGIC) + sum(len(frame(r)) for r in durable),
                         archive if archive is not None else MemoryArchive(faults))
        self.name, self.faults, self.durable = "<memory>", faults, durable

    def _flush(self, parts: list[bytes], batch: list[Record]) -> None:
        self._fault("write")
        self._fault("fsync")
        self.durable.extend(batch)

    def _replace(self, data: bytes, records: list[Record]) -> None:
        for stage in ("compact-write", "compact-fsync", "compact-rename"):
            self._fault(stage)
        self.durable = list(records)
        self._fault("compact-dirsync")

    def crash(self) -> MemoryLedger:
        """kill -9: this ledger is gone; return a fresh one holding only the durable records
        (and the same archive)."""
        self._closed = True
        return MemoryLedger(records=self.durable, archive=self.archive)


__all__ = [
    "MAGIC", "CorruptLedger", "Faults", "FileLedger", "LedgerError", "LedgerFailed",
    "LedgerLocked", "LedgerMissing", "MemoryLedger", "TornTail", "dump", "frame", "law_line", "law_lines",
    "replay",
]
