"""A newcomer's mistakes get ONE clear line on stderr, never a traceback.

Each test runs ``paxos-redis`` as a subprocess, as a newcomer would, and reads stderr.
No test touches a Redis it did not start: the ones that need one get their own
``redis-server`` (fixture ``redis_server``); the rest point at a closed port.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import clean_env, cli_command
from redis_server import RedisServer

from paxos_redis.messengers.heartbeat import read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.membership import name
from paxos_redis.protocol.records import Identity
from paxos_redis.storage.ledger import FileLedger
from paxos_redis.tools.bench.cluster import free_port


def closed_port() -> int:
    return free_port()                          # nothing listens once its socket is closed


def run(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli_command(), *args], env=clean_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The single error line; fails on a traceback, extra lines or the wrong exit code."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paxos-redis: error: "), lines[0]
    return lines[0]


# ------------------------------------------------------------------ Redis unreachable

@pytest.mark.parametrize("command", [
    ["priest"],
    ["god", "--priests", "3"],
    ["members"],
    ["status"],
    ["demo", "--quiet"],
], ids=lambda c: c[0])
def test_unreachable_redis_names_the_url_without_its_password(command: list[str],
                                                               tmp_path: Path) -> None:
    port = closed_port()
    url = f"redis://:secret@127.0.0.1:{port}/0"
    extra = ["--ledger-dir", str(tmp_path)] if command[0] in ("priest", "demo") else []
    line = one_line_error(run(*command, "--redis", url, *extra))
    assert "unreachable" in line
    assert f"redis://:***@127.0.0.1:{port}/0" in line
    assert "secret" not in line


# ------------------------------------------------------------------ bad option values

BAD_VALUES = [
    (["god", "--priests", "zero"], ["--priests", "'zero'"]),
    (["god", "--priests", "0"], ["--priests", "at least 1", "0"]),
    (["priest", "--parliament", "bad name!"], ["parliament", "'bad name!'", "A-Z"]),
    (["priest", "--identity", "first"], ["--identity", "12 hex digits", "'first'"]),
    (["priest", "--identity", "0"], ["--identity", "12 hex digits", "'0'"]),
    (["priest", "--identity", "1234567890abc"], ["--identity", "'1234567890abc'"]),
]


@pytest.mark.parametrize(("args", "names"), BAD_VALUES,
                         ids=[" ".join(args) for args, _ in BAD_VALUES])
def test_bad_option_values_name_the_option_and_the_value(args: list[str],
                                                         names: list[str]) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"     # never reached: settings fail first
    line = one_line_error(run(*args, "--redis", url))
    for word in names:
        assert word in line


def test_bad_paxos_rules_stop_a_priest_with_one_line() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    result = subprocess.run([*cli_command(), "priest", "--redis", url],
                            env={**clean_env(), "PAXOS_RULES": "window_bytes=0"}, capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    line = one_line_error(result)
    assert "PAXOS_RULES" in line and "window_bytes must be at least 1, got 0" in line


def test_demo_option_values_are_checked_before_anything_starts() -> None:
    result = run("demo", "--priests", "2", "--redis", f"redis://127.0.0.1:{closed_port()}/0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--priests must be at least 3, got 2" in result.stderr


# ------------------------------------------------------------------ identities and ledgers

PARLIAMENT = "errors"


@pytest.fixture
def running(redis_server: RedisServer,
            tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """One priest process (a new priest in ``tmp_path/ledgers``), beating; its identity."""
    ledgers = tmp_path / "ledgers"
    with open(tmp_path / "first-priest.log", "wb") as log:
        proc = subprocess.Popen(
            [*cli_command(), "priest", "--parliament", PARLIAMENT, "--redis", redis_server.url,
             "--ledger-dir", str(ledgers)],
            env=clean_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        redis, keys = redis_server.client(), Keys(PARLIAMENT)
        deadline = time.monotonic() + 20
        while not (beats := read_roster(redis, keys)):
            assert proc.poll() is None, (tmp_path / "first-priest.log").read_text()
            assert time.monotonic() < deadline, "the first priest never sent a heartbeat"
            time.sleep(0.05)
        [(priest, beat)] = beats.items()
        assert beat.pid == proc.pid
        yield proc, priest
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def second_priest(redis_server: RedisServer, tmp_path: Path, *extra: str) -> str:
    return one_line_error(run("priest", "--parliament", PARLIAMENT, "--redis", redis_server.url,
                              "--ledger-dir", str(tmp_path / "ledgers"), *extra))


@pytest.mark.redis
def test_a_ledger_locked_by_another_process_names_its_pid(
        running: tuple[subprocess.Popen[bytes], int], redis_server: RedisServer,
        tmp_path: Path) -> None:
    proc, priest = running
    line = second_priest(redis_server, tmp_path, "--identity", name(priest))
    assert "is locked" in line and f"pid {proc.pid}" in line
    assert f"{PARLIAMENT}-{name(priest)}.ledger" in line
    assert proc.poll() is None, "the running priest must not be disturbed"
    assert sorted(p.name for p in (tmp_path / "ledgers").glob("*.ledger")) == \
        [f"{PARLIAMENT}-{name(priest)}.ledger"], "no ledger was made"


@pytest.mark.redis
def test_a_ledger_of_another_parliament_is_refused_and_left_untouched(
        redis_server: RedisServer, tmp_path: Path) -> None:
    ledgers = tmp_path / "ledgers"
    ledgers.mkdir()
    with FileLedger.open(ledgers / f"alpha-{name(0xA1FA)}.ledger",
                         create=Identity("alpha", 0xA1FA)):
        pass
    misplaced = ledgers / f"beta-{name(0xA1FA)}.ledger"     # where a priest of beta's would be
    (ledgers / f"alpha-{name(0xA1FA)}.ledger").rename(misplaced)
    before = misplaced.read_bytes()
    line = one_line_error(run("priest", "--parliament", "beta", "--redis", redis_server.url,
                              "--ledger-dir", str(ledgers)))
    assert str(misplaced) in line
    assert "parliament 'alpha', not 'beta'" in line
    assert misplaced.read_bytes() == before
    assert [p.name for p in ledgers.glob("*.ledger")] == [misplaced.name], "no new priest made"


@pytest.mark.redis
def test_a_ledger_from_before_identities_is_refused_and_left_untouched(
        redis_server: RedisServer, tmp_path: Path) -> None:
    ledgers = tmp_path / "ledgers"
    ledgers.mkdir()
    old = ledgers / f"{PARLIAMENT}-seat-0.ledger"
    old.write_bytes(b"PAXOS-LEDGER 1\n(an old seat's records)")
    line = second_priest(redis_server, tmp_path)
    assert str(old) in line and "before priests had identities" in line
    assert old.read_bytes() == b"PAXOS-LEDGER 1\n(an old seat's records)"
    assert [p.name for p in ledgers.glob("*.ledger")] == [old.name], "no new priest made"
