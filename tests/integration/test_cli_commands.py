"""The README's citizen commands, run as a user would, against real priest processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from processes import Parliament, cli_command
from redis_server import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def chamber(redis_server: RedisServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    p = Parliament(redis_server.url, tmp_path / "p", seats=3, name="cli")
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
    rows = [row.split() for row in status.stdout.splitlines()]
    assert rows[0] == ["seat", "alive", "president", "ballot", "known", "lag"]
    assert [r[1] for r in rows[1:]] == ["yes", "yes", "yes"]
    assert sum(1 for r in rows[1:] if r[2] == "yes") == 1

    chamber.wait_converged()
    for seat in range(3):
        dumped = cli(chamber, "ledger", "--file", str(chamber.ledger_path(seat)))
        assert f"seat parliament=cli priest={seat} seats=3" in dumped.stdout
        assert "decree=set x=1" in dumped.stdout
        assert cli(chamber, "ledger", "--law", "--file",
                   str(chamber.ledger_path(seat))).stdout.splitlines() == lines


def test_petition_fails_with_one_line_when_no_parliament_answers(
        redis_server: RedisServer, tmp_path: Path) -> None:
    p = Parliament(redis_server.url, tmp_path / "p", seats=3, name="silent")
    done = subprocess.run([*cli_command(), "petition", "hello", "--timeout", "1"],
                          env=p.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "paxos-redis: error:" in done.stderr
    assert "Traceback" not in done.stderr
    assert sys.executable  # the CLI ran under this interpreter's environment
