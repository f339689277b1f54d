"""Compaction and the archive: the ledger stays small, and a crash at any point leaves a valid one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chamber import IDS, P0, P1, SENATE, founding, unit_rules

import paxos_redis.storage.ledger as ledger_module
from paxos_redis.protocol import (
    Applied,
    Ballot,
    BeginBallot,
    Decree,
    Identity,
    NextBallot,
    Priest,
    SuccessfulBallot,
)
from paxos_redis.protocol.compaction import compact, due
from paxos_redis.protocol.records import Archived, Members
from paxos_redis.storage.archive import CHUNK, MAGIC, FileArchive, MemoryArchive, archive_path
from paxos_redis.storage.ledger import (
    CorruptLedger,
    FileLedger,
    LedgerFailed,
    LedgerLocked,
    MemoryLedger,
    dump,
    law_lines,
    replay,
)

IDENTITY = Identity(SENATE, P1)
RULES = unit_rules(law_memory=50)
B1 = Ballot(1, P0)
STAGES = ["archive-write", "archive-fsync", "compact-write", "compact-fsync", "compact-rename",
          "compact-dirsync"]


def d(n: int) -> Decree:
    return Decree(f"p{n % 700}", f"decree {n}".encode())      # pids repeat: some retries


def found(ledger: FileLedger | MemoryLedger) -> Priest:
    """The priest of a new ledger, once it has entered the founding (decree 0)."""
    priest = Priest.restore(ledger.records, RULES, ledger.archive)
    ledger.write(priest.found(founding()).records)
    return priest


def run(priest: Priest, ledger: FileLedger | MemoryLedger, start: int, stop: int) -> None:
    """The president passes ``start .. stop-1`` (the priest also votes for 3 more, not yet
    passed); the priest votes, learns, and persists."""
    entries = tuple((n, d(n)) for n in range(start, stop + 3))
    for message in (NextBallot(P0, B1, start, start), BeginBallot(P0, B1, start, entries),
                    SuccessfulBallot(P0, B1, stop, entries[:-3])):
        ledger.write(priest.receive(message).records)


def state(priest: Priest) -> tuple[object, ...]:
    law = priest.law
    return (priest.next_bal, priest.last_tried, priest.votes, law.known, law.highest(),
            law.read(0, law.known), dict(law.first_of), law.members.configs, priest.stamp)


def reopen(path: Path) -> tuple[FileLedger, Priest]:
    ledger = FileLedger.open(path)
    return ledger, Priest.restore(ledger.records, RULES, ledger.archive)


class FaultAt:
    """The disk fails at ``stage`` once armed (the ledger's faults hook)."""

    def __init__(self, stage: str, armed: bool = True) -> None:
        self.stage, self.armed = stage, armed

    def __call__(self, at: str) -> None:
        if self.armed and at == self.stage:
            raise OSError(5, f"injected failure at {at}")


# ---------------------------------------------------------------- the archive file

def test_archive_round_trip_across_chunks_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "x.ledger.law"
    entries = [Applied(n, d(n), n - 700 if n >= 700 else n) for n in range(2 * CHUNK + 10)]
    archive = FileArchive.open(path)
    archive.append(entries[:CHUNK + 5])
    archive.append(entries[CHUNK + 5:])
    archive.close()
    again = FileArchive.open(path)
    assert again.end == len(entries) and again.torn_tail is None
    assert again.read(CHUNK - 2, 10) == entries[CHUNK - 2 : CHUNK + 8]
    assert again.read(0, 10**6) == entries and again.read(len(entries), 5) == []
    assert [e for chunk in again.chunks() for e in chunk] == entries
    with pytest.raises(ValueError, match="consecutively"):
        again.append([Applied(5, d(5), 5)])


def test_archive_of_large_decrees_reads_back_and_holds_its_chunks_frames(tmp_path: Path) -> None:
    from paxos_redis.storage.archive import encode_chunk
    from paxos_redis.storage.framing import framed
    path = tmp_path / "x.ledger.law"
    entries = [Applied(n, Decree(f"p{n}", os.urandom(20480)), n) for n in range(CHUNK + 3)]
    archive = FileArchive.open(path)
    archive.append(entries)
    archive.close()
    assert path.read_bytes() == MAGIC + framed(encode_chunk(entries[:CHUNK])) + framed(
        encode_chunk(entries[CHUNK:]))
    again = FileArchive.open(path)
    assert again.end == len(entries) and again.read(CHUNK - 1, 4) == entries[CHUNK - 1:]
    again.close()


def test_archive_twin_reads_like_the_file() -> None:
    twin = MemoryArchive()
    twin.append([Applied(n, d(n), n) for n in range(5)])
    assert twin.end == 5 and twin.read(3, 10) == [Applied(3, d(3), 3), Applied(4, d(4), 4)]
    with pytest.raises(ValueError):
        twin.append([Applied(9, d(9), 9)])


# ---------------------------------------------------------------- compaction, end to end

def test_compaction_keeps_the_priest_and_shrinks_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "s.ledger"
    ledger = FileLedger.open(path, create=IDENTITY)
    priest = found(ledger)
    run(priest, ledger, 1, 3000)
    whole = law_lines(replay(path, path.read_bytes())[0])
    before, size = state(priest), ledger.size
    assert due(priest, ledger.archive, 100)
    assert compact(priest, ledger.archive, ledger.replace) == priest.law.known == 3000
    assert ledger.size < size / 20 and path.stat().st_size == ledger.size
    assert len(priest.law.decrees) <= RULES.law_memory + 3 and state(priest) == before
    run(priest, ledger, 3000, 3100)                  # the ledger goes on after a compaction
    before = state(priest)
    ledger.close()
    ledger, again = reopen(path)
    assert state(again) == before and len(again.law.decrees) < 200
    records = replay(path, path.read_bytes())[0]     # the CLI's view: archive + ledger
    assert law_lines(records)[: len(whole)] == whole
    assert "archived upto=3000" in dump(records)
    assert again.law.members.configs == [(0, frozenset(IDS[:3]))] and again.role == "voter"
    assert isinstance(ledger.records[2], Members) and ledger.records[2].at == 3000
    ledger.close()


@pytest.mark.parametrize("stage", STAGES)
def test_a_crash_at_any_stage_of_compaction_leaves_a_valid_ledger(tmp_path: Path,
                                                                  stage: str) -> None:
    path = tmp_path / "s.ledger"
    fault = FaultAt(stage, armed=False)
    ledger = FileLedger.open(path, create=IDENTITY, faults=fault)
    priest = found(ledger)
    run(priest, ledger, 1, 500)
    compact(priest, ledger.archive, ledger.replace)           # a first one succeeds ...
    run(priest, ledger, 500, 1500)
    before, fault.armed = state(priest), True
    with pytest.raises(OSError, match="injected"):
        compact(priest, ledger.archive, ledger.replace)       # ... the second one dies
    if stage.startswith("compact"):
        with pytest.raises(LedgerFailed):                     # the priest must stop
            ledger.write(priest.receive(NextBallot(P0, Ballot(9, P0), 1, 1)).records)
    else:
        with pytest.raises(LedgerFailed):                     # no append after a torn one
            compact(priest, ledger.archive, ledger.replace)
    ledger.close()
    ledger, again = reopen(path)
    assert state(again) == before
    assert not (tmp_path / ".s.ledger.compact").exists()
    compact(again, ledger.archive, ledger.replace)            # and it compacts fine after
    run(again, ledger, 1500, 1600)
    after = state(again)
    ledger.close()
    ledger, third = reopen(path)
    assert state(third) == after
    ledger.close()


def test_a_torn_archive_tail_is_dropped_when_the_ledger_does_not_need_it(tmp_path: Path) -> None:
    path = tmp_path / "s.ledger"
    ledger = FileLedger.open(path, create=IDENTITY)
    priest = found(ledger)
    run(priest, ledger, 1, 200)
    compact(priest, ledger.archive, ledger.replace)
    run(priest, ledger, 200, 400)
    before, law_size = state(priest), archive_path(path).stat().st_size
    ledger.archive.append(priest.law.read(ledger.archive.end, 100))  # died mid-compaction:
    ledger.close()
    with open(archive_path(path), "r+b") as f:                        # its frame torn
        f.truncate(law_size + 50)
    ledger, again = reopen(path)
    assert ledger.archive.torn_tail is not None and state(again) == before
    assert archive_path(path).stat().st_size == law_size
    ledger.close()


def test_an_archive_header_cut_short_is_an_empty_archive(tmp_path: Path) -> None:
    path = tmp_path / "s.ledger"
    FileLedger.open(path, create=IDENTITY).close()
    archive_path(path).write_bytes(MAGIC[:4])
    ledger = FileLedger.open(path)
    assert ledger.archive.end == 0 and archive_path(path).stat().st_size == 0
    priest = found(ledger)
    run(priest, ledger, 1, 100)
    compact(priest, ledger.archive, ledger.replace)
    ledger.close()
    ledger, again = reopen(path)
    assert again.law.known == 100
    ledger.close()


def compacted(tmp_path: Path) -> Path:
    path = tmp_path / "s.ledger"
    ledger = FileLedger.open(path, create=IDENTITY)
    priest = found(ledger)
    for start, stop in ((1, 1200), (1200, 2400)):
        run(priest, ledger, start, stop)
        compact(priest, ledger.archive, ledger.replace)
    ledger.close()
    return path


def test_damage_inside_the_archive_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = compacted(tmp_path)
    law = archive_path(path)
    data = bytearray(law.read_bytes())
    data[len(MAGIC) + 40] ^= 0xFF                    # inside the first of several frames
    law.write_bytes(bytes(data))
    with pytest.raises(CorruptLedger, match="checksum"):
        FileLedger.open(path)
    assert law.read_bytes() == bytes(data)


@pytest.mark.parametrize("cut", ["missing", "short"])
def test_a_ledger_whose_archive_lost_law_is_refused(tmp_path: Path, cut: str) -> None:
    path = compacted(tmp_path)
    law, ledger_bytes = archive_path(path), path.read_bytes()
    if cut == "missing":
        law.unlink()
    else:
        with open(law, "r+b") as f:
            f.truncate(law.stat().st_size - 10)      # looks like a torn tail ...
    left = law.read_bytes() if law.exists() else None
    with pytest.raises(CorruptLedger, match="law below decree 2400"):
        FileLedger.open(path)                        # ... but the ledger relies on it
    assert path.read_bytes() == ledger_bytes
    assert (law.read_bytes() if law.exists() else None) == left


def test_the_lock_follows_the_ledger_across_a_compaction(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.ledger"
    owner = FileLedger.open(path, create=IDENTITY)
    priest = found(owner)
    run(priest, owner, 1, 300)
    compact(priest, owner.archive, owner.replace)
    with pytest.raises(LedgerLocked):
        FileLedger.open(path)
    real_lock, calls = ledger_module._lock, []

    def compact_first(fd: int, where: Path) -> None:  # the owner renames a new file over the
        if not calls:                                  # name between our open and our flock
            run(priest, owner, 300, 400)
            compact(priest, owner.archive, owner.replace)
        calls.append(os.fstat(fd).st_ino)
        real_lock(fd, where)

    monkeypatch.setattr(ledger_module, "_lock", compact_first)
    with pytest.raises(LedgerLocked):
        FileLedger.open(path)
    assert len(calls) == 2 and calls[0] != calls[1]   # the stale file was noticed, not owned
    owner.close()


# ---------------------------------------------------------------- the in-memory twin

@pytest.mark.parametrize("stage", STAGES)
def test_memory_ledger_crash_during_compaction(stage: str) -> None:
    ledger = MemoryLedger(IDENTITY, faults=FaultAt(stage))
    priest = found(ledger)
    run(priest, ledger, 1, 400)
    before = state(priest)
    with pytest.raises(OSError):
        compact(priest, ledger.archive, ledger.replace)
    reborn = ledger.crash()
    again = Priest.restore(reborn.records, RULES, reborn.archive)
    assert state(again) == before
    compacted_now = stage == "compact-dirsync"
    assert (reborn.records[1] == Archived(400)) is compacted_now
