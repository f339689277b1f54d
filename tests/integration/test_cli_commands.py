"""The README's citizen commands, run as a user would, against real priest processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from processes import Parliament, cli_command
from redis_server import RedisServer

from paxos_redis.protocol.membership import name

pytestmark = pytest.mark.redis


@pytest.fixture
def chamber(redis_server: RedisServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    p = Parliament(redis_server.url, tmp_path / "p", priests=3, name="cli")
    try:
        p.start()
        yield p
    finally:
        p.close()


def cli(p: Parliament, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli_command(), *args], env=p.env(), capture_output=True,
                          text=True, timeout=60)


def test_petition_law_status_and_ledger_commands(chamber: Parliament) -> None:
    done = cli(chamber, "petition", "set x=1", "set y=2", "--timeout", "20")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(",", 1)[1] for line in lines] == ["set x=1", "set y=2"]
    numbers = [int(line.split(",", 1)[0]) for line in lines]
    assert numbers[0] < numbers[1]

    law = cli(chamber, "law", "--linearizable")
    assert law.returncode == 0, law.stderr
    assert law.stdout.splitlines() == lines
    later = cli(chamber, "law", "--from", str(numbers[1]))
    assert later.stdout.splitlines() == [lines[1]]

    status = cli(chamber, "status")
    assert status.returncode == 0, status.stderr
    summary, header, *rows = status.stdout.splitlines()
    assert summary.startswith("parliament 'cli', genesis ") and "3 voters (3 alive)" in summary
    table = columns(header, rows)
    assert header.split() == ["priest", "role", "alive", "president", "ballot", "known", "lag",
                              "host", "pid"]
    assert sorted(r["priest"] for r in table) == sorted(name(p) for p in chamber.priests)
    assert [(r["role"], r["alive"]) for r in table] == [("voter", "yes")] * 3
    assert [r["president"] for r in table].count("yes") == 1
    assert {int(r["pid"]) for r in table} == {p.pid for p in chamber.priests.values()}

    chamber.wait_converged()
    for priest in chamber.priests:
        dumped = cli(chamber, "ledger", "--file", str(chamber.ledger_path(priest)))
        first, *rest = dumped.stdout.splitlines()
        assert first == f"identity parliament=cli priest={name(priest)}"
        [founding] = [line for line in rest if line.startswith("passed n=0 ")]
        assert "id=!found:" in founding and all(name(m) in founding for m in chamber.priests)
        assert "decree=set x=1" in dumped.stdout
        assert cli(chamber, "ledger", "--law", "--file",
                   str(chamber.ledger_path(priest))).stdout.splitlines() == lines


def columns(header: str, rows: list[str]) -> list[dict[str, str]]:
    """The status table's rows by column (cells may be empty: cut at the header's offsets)."""
    names = header.split()
    starts = [header.index(f"{n} ") if n != names[-1] else header.rindex(n) for n in names]
    return [{n: row[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None],
                                                     strict=True)} for row in rows]


def test_petition_fails_with_one_line_when_no_parliament_answers(
        redis_server: RedisServer, tmp_path: Path) -> None:
    p = Parliament(redis_server.url, tmp_path / "p", priests=3, name="silent")
    done = subprocess.run([*cli_command(), "petition", "hello", "--timeout", "1"],
                          env=p.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "paxos-redis: error:" in done.stderr
    assert "Traceback" not in done.stderr
    assert sys.executable  # the CLI ran under this interpreter's environment
