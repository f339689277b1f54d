"""Reading a ledger file: its frames, torn tails and damage, and the archive beside it.

    b"PAXOS-LEDGER 2\\n"                            the header, once
    [u32 length][u32 crc32(payload)][payload]      one frame per record, payload = encode_record
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from paxos_redis.errors import CorruptLedger
from paxos_redis.protocol.records import (
    Archived,
    Identity,
    Passed,
    Record,
    decode_record,
    encode_record,
    encode_record_parts,
)
from paxos_redis.storage.archive import FileArchive, archive_path
from paxos_redis.storage.framing import FRAME, TornTail, framed, framed_parts, read_frame

MAGIC = b"PAXOS-LEDGER 2\n"
#: the header of ledgers written before priests had identities (seats 0..N-1)
SEATED = b"PAXOS-LEDGER 1\n"
_KIND = re.compile(rb"[IPTVLAM]")  # first payload byte of every record kind


def frame(record: Record) -> bytes:
    """One record as it lies in the ledger: length, checksum, payload."""
    return framed(encode_record(record))


def frame_parts(record: Record) -> list[bytes]:
    """:func:`frame` in parts whose join is the frame (a large record is not copied)."""
    return framed_parts(encode_record_parts(record))


def _good_frame_after(data: bytes, pos: int) -> int | None:
    """Offset of a valid, decodable frame starting after ``pos`` (a corrupt length field
    can make the middle of a ledger look like a torn tail; this tells them apart)."""
    for match in _KIND.finditer(data, pos + 1 + FRAME.size):
        candidate = match.start() - FRAME.size
        if read_frame(data, candidate, decode_record)[0] is not None:
            return candidate
    return None


def replay(path: object, data: bytes, *,
           archived: bool = True) -> tuple[list[Record], TornTail | None]:
    """Decode a whole ledger file; the torn tail (if any) is reported, not applied.

    With ``archived`` and a ledger ``path`` that has an archive beside it, the archived
    law comes first (as Passed records after the Identity), so the records hold the whole
    law; the archive is only read (an offline tool's view: it may hold it all in memory).
    """
    records, torn = replay_ledger(path, data)
    if archived and isinstance(path, (str, os.PathLike)):
        law = archive_path(Path(path))
        if law.exists():
            archive = FileArchive.open(law, writable=False)
            try:
                records[1:1] = [Passed(tuple((e.n, e.decree) for e in chunk))
                                for chunk in archive.chunks()]
            finally:
                archive.close()
    return records, torn


def replay_ledger(path: object, data: bytes) -> tuple[list[Record], TornTail | None]:
    """Decode the ledger file alone (no archive); the torn tail is reported, not applied."""
    if data.startswith(SEATED):
        raise CorruptLedger(path, 0, "this ledger was written by a paxos-redis from before "
                            "priests had identities (its priests sat in numbered seats, which "
                            "two processes could share); it cannot vote in this version. Read "
                            "its law with an older version, and found a new parliament")
    if not data.startswith(MAGIC):
        raise CorruptLedger(path, 0, f"header is {data[:len(MAGIC)]!r}, expected {MAGIC!r}; "
                            "this is not a paxos-redis ledger (or a version this code cannot read)")
    records: list[Record] = []
    pos, torn = len(MAGIC), None
    while pos < len(data):
        record, stop, problem = read_frame(data, pos, decode_record)
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
    if not records or not isinstance(records[0], Identity):
        raise CorruptLedger(path, len(MAGIC), "the ledger does not begin with an Identity record")
    return records, torn


def check_archived(records: list[Record], archive: FileArchive) -> None:
    """Refuse (touching nothing) a compacted ledger whose archive lost law it relied on."""
    upto = max((r.upto for r in records if isinstance(r, Archived)), default=0)
    if upto > archive.end:
        raise CorruptLedger(
            archive.path, archive.size,
            f"the ledger says the law below decree {upto} is in this archive, which holds "
            f"only the decrees below {archive.end} (missing or cut short); restore the "
            "archive from a backup")
