"""The ledger adapter: indelible ink, torn tails, one owner, and its in-memory twin."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from paxos_redis.errors import ProtocolError
from paxos_redis.protocol.ballot import Ballot
from paxos_redis.protocol.decree import OLIVE_DAY, Decree
from paxos_redis.protocol.membership import Membership
from paxos_redis.protocol.records import Identity, Members, Passed, Promise, Tried, Votes
from paxos_redis.storage.ledger import (
    MAGIC,
    CorruptLedger,
    FileLedger,
    LedgerError,
    LedgerFailed,
    LedgerLocked,
    LedgerMissing,
    MemoryLedger,
    dump,
    frame,
    law_lines,
)

IDENTITY = Identity("senate", 0x0B22_0000_0002)
HELLO = Decree("abc", b"hello")
BINARY = Decree("bin", b"\x00\xff\x10")
EVERY_KIND = [
    Promise(Ballot(3, 1)),
    Tried(Ballot(4, 2)),
    Votes(Ballot(3, 1), ((7, HELLO), (8, BINARY), (9, OLIVE_DAY))),
    Passed(((7, HELLO), (8, BINARY))),
    Passed(()),
    Members(40, Membership("g1", 8, [(0, frozenset({1, 0x0B22_0000_0002})), (13, frozenset({1}))],
                           pending_until=13, changed_at=5)),
]


def make(path: Path, records: list) -> FileLedger:
    ledger = FileLedger.open(path, create=IDENTITY)
    ledger.write(records)
    return ledger


def frame_starts(records: list) -> list[int]:
    """Byte offset of each frame (the Identity first) in a ledger holding ``records``."""
    starts, pos = [], len(MAGIC)
    for record in [IDENTITY, *records]:
        starts.append(pos)
        pos += len(frame(record))
    return starts


# ---------------------------------------------------------------- round trip, group commit

def test_every_record_kind_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "priest-2.ledger"
    make(path, EVERY_KIND).close()
    with FileLedger.open(path) as again:
        assert again.records == [IDENTITY, *EVERY_KIND]
        assert again.torn_tail is None
        assert again.size == path.stat().st_size == frame_starts(EVERY_KIND)[-1] + len(
            frame(EVERY_KIND[-1]))
    assert path.read_bytes().startswith(MAGIC)


def test_large_decrees_lie_in_the_file_exactly_as_their_frames_joined(tmp_path: Path) -> None:
    """Frames are written in parts (a 20 KiB body is not copied into one buffer first):
    the file holds the same bytes as the frames joined, and reads back."""
    big = [Decree(f"big{n}", os.urandom(20480 + n)) for n in range(3)]
    records = [Votes(Ballot(5, 2), tuple(enumerate(big))), Promise(Ballot(6, 1)),
               Passed(((0, big[0]), (1, HELLO), (2, big[2]))), *EVERY_KIND]
    path = tmp_path / "p.ledger"
    with FileLedger.open(path, create=IDENTITY) as ledger:
        ledger.append(records[:2])
        assert ledger.pending_bytes == sum(len(frame(r)) for r in records[:2])
        ledger.append(records[2:])
        ledger.sync()
        assert ledger.pending_bytes == 0
    assert path.read_bytes() == MAGIC + b"".join(frame(r) for r in [IDENTITY, *records])
    with FileLedger.open(path) as again:
        assert again.records == [IDENTITY, *records] and again.size == path.stat().st_size


def test_parts_written_a_few_bytes_at_a_time_arrive_whole_and_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paxos_redis.storage import framing
    calls = []

    def short_writev(fd: int, buffers: list) -> int:     # a disk that takes 7 bytes a call
        calls.append(len(buffers))
        return os.write(fd, b"".join(bytes(b) for b in buffers)[:7])

    monkeypatch.setattr(framing.os, "writev", short_writev)
    parts = [bytes([n % 251]) * (n % 5) for n in range(3000)]    # empty parts among them
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        framing.write_parts(fd, parts)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"".join(parts)
    assert max(calls) <= framing._IOV_MAX


def test_group_commit_makes_a_batch_durable_with_one_fsync(tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    batch = [Passed(((n, Decree(f"id{n}", b"x" * n)),)) for n in range(50)]
    with FileLedger.open(path, create=IDENTITY) as ledger:
        before = ledger.fsync_count
        ledger.append(batch[:20])
        ledger.append(batch[20:])
        assert ledger.fsync_count == before
        ledger.sync()
        assert ledger.fsync_count == before + 1
        ledger.sync()  # nothing pending: no fsync
        assert ledger.fsync_count == before + 1
    with FileLedger.open(path) as again:
        assert again.records == [IDENTITY, *batch]


def test_appended_but_never_synced_records_are_not_in_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    with FileLedger.open(path, create=IDENTITY) as ledger:
        ledger.write([Promise(Ballot(1, 1))])
        ledger.append([Promise(Ballot(2, 1))])
    with FileLedger.open(path) as again:
        assert again.records == [IDENTITY, Promise(Ballot(1, 1))]


def test_a_batch_with_an_unencodable_record_adds_nothing(tmp_path: Path) -> None:
    with make(tmp_path / "p.ledger", []) as ledger:
        with pytest.raises(ProtocolError, match="cannot encode"):
            ledger.append([Promise(Ballot(1, 1)), Votes(Ballot(2, 1), ((2**64, Decree("a", b"")),))])
        assert ledger.pending == []
        ledger.write([Promise(Ballot(2, 1))])
    with FileLedger.open(tmp_path / "p.ledger") as again:
        assert again.records == [IDENTITY, Promise(Ballot(2, 1))]


def test_missing_ledger_is_refused_without_create(tmp_path: Path) -> None:
    with pytest.raises(LedgerMissing, match="no ledger at .*nope.ledger.*create=Identity"):
        FileLedger.open(tmp_path / "nope.ledger")
    assert not (tmp_path / "nope.ledger").exists()


def test_existing_ledger_of_another_priest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    make(path, []).close()
    with pytest.raises(LedgerError, match=f"belongs to .*priest={IDENTITY.priest}"):
        FileLedger.open(path, create=Identity("senate", 0x0C33_0000_0003))
    with pytest.raises(LedgerError, match="belongs to"):          # another parliament's
        FileLedger.open(path, create=Identity("house", IDENTITY.priest))
    with FileLedger.open(path, create=IDENTITY) as same:  # the same priest reopens fine
        assert same.records == [IDENTITY]


def test_a_ledger_written_before_priests_had_identities_is_refused(tmp_path: Path) -> None:
    """Its priests sat in numbered seats: the ledger is refused, saying why, and left as is."""
    path = tmp_path / "old.ledger"
    data = b"PAXOS-LEDGER 1\n" + frame(IDENTITY)[:8] + b"S" + bytes(8) + b"senate"
    path.write_bytes(data)
    with pytest.raises(CorruptLedger, match="before priests had identities"):
        FileLedger.open(path)
    assert path.read_bytes() == data


# ---------------------------------------------------------------- torn tails

def _cut_header(data: bytes, last: int) -> bytes:
    return data[: last + 3]


def _cut_payload(data: bytes, last: int) -> bytes:
    return data[:-2]


def _flip_last_byte(data: bytes, last: int) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _zeros_after(data: bytes, last: int) -> bytes:
    return data[:last] + b"\0" * (len(data) - last + 100)


@pytest.mark.parametrize("tear", [_cut_header, _cut_payload, _flip_last_byte, _zeros_after])
def test_torn_tail_is_dropped_reported_and_truncated(tmp_path: Path, tear, caplog) -> None:
    path = tmp_path / "p.ledger"
    records = [Promise(Ballot(1, 1)), Votes(Ballot(1, 1), ((1, HELLO),))]
    make(path, records).close()
    last = frame_starts(records)[-1]
    torn = tear(path.read_bytes(), last)
    path.write_bytes(torn)

    with caplog.at_level(logging.WARNING, logger="paxos_redis.storage.ledger"):
        ledger = FileLedger.open(path)
    assert ledger.records == [IDENTITY, records[0]]
    assert ledger.torn_tail is not None
    assert (ledger.torn_tail.offset, ledger.torn_tail.dropped) == (last, len(torn) - last)
    assert path.stat().st_size == last == ledger.size
    assert "torn tail" in caplog.text and str(path) in caplog.text

    ledger.write([Passed(((1, HELLO),))])
    ledger.close()
    with FileLedger.open(path) as again:
        assert again.records == [IDENTITY, records[0], Passed(((1, HELLO),))]
        assert again.torn_tail is None


def test_a_torn_identity_is_corruption_not_a_tail(tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    make(path, []).close()
    data = path.read_bytes()[:-1]
    path.write_bytes(data)
    with pytest.raises(CorruptLedger, match=f"at byte {len(MAGIC)}"):
        FileLedger.open(path)
    assert path.read_bytes() == data


# ---------------------------------------------------------------- corruption is refused

def test_corrupt_frame_in_the_middle_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    records = [Promise(Ballot(1, 1)), Promise(Ballot(2, 1)), Promise(Ballot(3, 1))]
    make(path, records).close()
    middle = frame_starts(records)[2]
    data = bytearray(path.read_bytes())
    data[middle + 12] ^= 0xFF  # inside the second Promise's payload
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptLedger) as info:
        FileLedger.open(path)
    assert info.value.offset == middle
    message = str(info.value)
    assert str(path) in message and f"byte {middle}" in message and "untouched" in message
    assert path.read_bytes() == bytes(data)


def test_corrupt_length_that_runs_past_the_end_is_not_mistaken_for_a_tail(
        tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    records = [Promise(Ballot(1, 1)), Promise(Ballot(2, 1)), Promise(Ballot(3, 1))]
    make(path, records).close()
    middle = frame_starts(records)[1]
    data = bytearray(path.read_bytes())
    data[middle] = 0x7F  # the length field now claims ~2 GB
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptLedger, match="good frame follows") as info:
        FileLedger.open(path)
    assert info.value.offset == middle
    assert path.read_bytes() == bytes(data)


@pytest.mark.parametrize("content", [b"", b"PAXOS-LEDGER 3\n", b"some,csv\n1,2\n"])
def test_a_file_with_another_header_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "p.ledger"
    path.write_bytes(content)
    with pytest.raises(CorruptLedger, match="not a paxos-redis ledger") as info:
        FileLedger.open(path)
    assert info.value.offset == 0
    assert path.read_bytes() == content


# ---------------------------------------------------------------- one owner

def _open_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(f"""
        from paxos_redis.storage.ledger import FileLedger, LedgerLocked
        try:
            FileLedger.open({str(path)!r}).close()
        except LedgerLocked as exc:
            print("LOCKED", exc)
        else:
            print("OPENED")
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)


def test_a_second_open_in_this_process_is_locked_out(tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    with make(path, []):
        with pytest.raises(LedgerLocked) as info:
            FileLedger.open(path)
        assert str(path) in str(info.value) and f"pid {os.getpid()}" in str(info.value)
    with FileLedger.open(path) as next_owner:  # closing released the lock
        assert next_owner.records == [IDENTITY]


def test_another_process_is_locked_out_until_the_owner_closes(tmp_path: Path) -> None:
    path = tmp_path / "p.ledger"
    owner = make(path, [Promise(Ballot(1, 1))])
    result = _open_in_child(path)
    assert result.stdout.startswith("LOCKED"), result
    assert str(path) in result.stdout and f"pid {os.getpid()}" in result.stdout
    owner.close()
    assert _open_in_child(path).stdout.strip() == "OPENED"


# ---------------------------------------------------------------- the ink that does not dry

@pytest.mark.parametrize("stage,code", [("fsync", errno.EIO), ("write", errno.ENOSPC)])
def test_failed_sync_surfaces_then_the_ledger_refuses_to_write(
        tmp_path: Path, stage: str, code: int) -> None:
    def faults(at: str) -> None:
        if at == stage:
            raise OSError(code, os.strerror(code))

    path = tmp_path / "p.ledger"
    ledger = make(path, [Promise(Ballot(1, 1))])
    ledger.faults = faults
    ledger.append([Promise(Ballot(2, 1))])
    with pytest.raises(OSError) as info:
        ledger.sync()
    assert info.value.errno == code
    assert ledger.fsync_count == 1  # only the first, good batch
    for attempt in (lambda: ledger.write([Promise(Ballot(3, 1))]),
                    lambda: ledger.append([Promise(Ballot(3, 1))]), ledger.sync):
        with pytest.raises(LedgerFailed, match="must stop"):
            attempt()
    ledger.close()
    with FileLedger.open(path) as again:
        assert Promise(Ballot(3, 1)) not in again.records
        assert again.records[:2] == [IDENTITY, Promise(Ballot(1, 1))]


def test_a_closed_ledger_refuses_writes(tmp_path: Path) -> None:
    ledger = make(tmp_path / "p.ledger", [])
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.write([Promise(Ballot(1, 1))])


# ---------------------------------------------------------------- the in-memory twin

def test_memory_ledger_crash_keeps_only_what_was_synced() -> None:
    ledger = MemoryLedger(IDENTITY)
    ledger.write([Promise(Ballot(1, 1))])
    ledger.append([Votes(Ballot(1, 1), ((1, HELLO),))])
    assert ledger.fsync_count == 1
    assert ledger.durable == [IDENTITY, Promise(Ballot(1, 1))]
    assert ledger.pending == [Votes(Ballot(1, 1), ((1, HELLO),))]

    reborn = ledger.crash()
    assert reborn.records == reborn.durable == [IDENTITY, Promise(Ballot(1, 1))]
    assert reborn.pending == [] and reborn.fsync_count == 0
    with pytest.raises(LedgerError, match="closed"):
        ledger.write([Promise(Ballot(2, 1))])  # the crashed process is gone
    reborn.write([Promise(Ballot(2, 1))])
    assert reborn.durable[-1] == Promise(Ballot(2, 1))


def test_memory_ledger_size_matches_the_file(tmp_path: Path) -> None:
    memory = MemoryLedger(IDENTITY)
    memory.write(EVERY_KIND)
    with make(tmp_path / "p.ledger", EVERY_KIND) as file:
        assert memory.size == file.size


def test_memory_ledger_fails_like_the_file() -> None:
    def full(stage: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    ledger = MemoryLedger(IDENTITY, faults=full)
    with pytest.raises(OSError):
        ledger.write([Promise(Ballot(1, 1))])
    with pytest.raises(LedgerFailed):
        ledger.write([Promise(Ballot(2, 1))])
    assert ledger.crash().records == [IDENTITY]


def test_memory_ledger_needs_an_identity() -> None:
    with pytest.raises(LedgerMissing):
        MemoryLedger()
    with pytest.raises(CorruptLedger):
        MemoryLedger(records=[Promise(Ballot(1, 1))])


# ---------------------------------------------------------------- reading it aloud

def test_dump_reads_every_record_aloud() -> None:
    text = dump([IDENTITY, *EVERY_KIND])
    assert text.splitlines() == [
        "identity parliament=senate priest=0b2200000002",
        "promise 3.1",
        "tried 4.2",
        "vote 3.1 n=7 id=abc decree=hello",
        "vote 3.1 n=8 id=bin decree=hex:00ff10",
        "vote 3.1 n=9 olive-day",
        "passed n=7 id=abc decree=hello",
        "passed n=8 id=bin decree=hex:00ff10",
        "passed (no decrees)",
        "members at=40 genesis=g1 alpha=8 changed_at=5 pending_until=13 "
        "from=0:000000000001,0b2200000002 from=13:000000000001",
    ]
    assert dump([Passed(((1, Decree("a b", b"hex:1")),))]) == (
        "passed n=1 id=hex:612062 decree=hex:6865783a31\n")


def test_law_lines_hold_each_decree_once_in_order() -> None:
    retried = Decree("abc", b"hello")
    records = [
        IDENTITY,
        Passed(((9, Decree("z", b"last")), (2, OLIVE_DAY))),
        Votes(Ballot(1, 1), ((4, Decree("v", b"only voted")),)),
        Passed(((5, retried), (1, HELLO), (3, BINARY))),
        Passed(((1, HELLO),)),  # learned twice
        Passed(((6, Decree("!sync:1", b"")),)),  # a sync barrier: not law for citizens
    ]
    assert law_lines(records) == [
        "1,hello",
        "3,hex:00ff10",
        "9,last",
    ]


def test_law_lines_refuse_two_decrees_at_one_number() -> None:
    with pytest.raises(LedgerError, match="decree 1 passed twice"):
        law_lines([Passed(((1, HELLO),)), Passed(((1, BINARY),))])
