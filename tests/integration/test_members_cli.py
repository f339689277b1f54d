"""``paxos-redis members`` and a priest's identity, run as an operator would, against a real
redis-server and real priest and god processes.

Membership is law: ``members add``/``remove`` ask the president to pass a change, and
refuse one that would leave fewer live members than a majority before sending it.  A
priest is its ledger: ``--identity`` of a ledger that is not there is an error, and a
copy of a running priest's ledger (in another ledger directory, as on another host)
must not start: two processes would act as one priest.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Parliament, cli_command, wait_for
from redis_server import RedisServer

from paxos_redis.messengers.heartbeat import president_of
from paxos_redis.protocol.membership import name
from paxos_redis.tools.local_parliament import HOST

pytestmark = pytest.mark.redis

NAME = "members"


@pytest.fixture
def chamber(redis_server: RedisServer, tmp_path: Path) -> Iterator[Parliament]:
    """A god (``--priests 3``) and three founding priests, each in its own ledger directory."""
    p = Parliament(redis_server.url, tmp_path / "p", priests=3, name=NAME)
    try:
        p.start()
        yield p
    finally:
        p.close()


def cli(p: Parliament, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli_command(), *args], env=p.env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=p.root)


def one_line_error(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code and len(errors) == 1, (done.returncode, done.stderr)
    assert errors[0].startswith("paxos-redis: error: "), errors[0]
    return errors[0]


def listing(p: Parliament) -> dict[str, str]:
    """``members`` as {identity: the rest of its line}."""
    done = cli(p, "members")
    assert done.returncode == 0, done.stderr
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in done.stdout.splitlines()}


def president_members(p: Parliament) -> frozenset[int]:
    president = president_of(p.beats())
    assert president is not None, p.explain()
    return frozenset(president.members)


def test_members_lists_admits_a_listener_and_refuses_a_removal_that_would_stall(
        chamber: Parliament) -> None:
    founders = set(chamber.priests)
    president = chamber.president()
    shown = listing(chamber)
    assert set(shown) == {name(p) for p in founders}
    assert all(line.startswith("voter known=") for line in shown.values())
    assert shown[name(president)].endswith(" president")
    assert sum(line.endswith(" president") for line in shown.values()) == 1

    # no god while the operator admits (a god wanting more voters would admit it itself)
    assert chamber.stop_god() == 0
    newcomer = chamber.wait_beating(chamber.start_priest())
    wait_for(lambda: chamber.role(newcomer) == "listener"
             and chamber.known()[newcomer] >= chamber.known()[president], 30,
             "the newcomer to listen and catch up", explain=chamber.explain)
    assert listing(chamber)[name(newcomer)].startswith("listener known=")
    assert newcomer not in president_members(chamber)

    added = cli(chamber, "members", "add", name(newcomer), "--timeout", "60")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"admitted {name(newcomer)} by the decree at "), added.stdout
    assert "4 members vote from decree" in added.stdout
    assert president_members(chamber) == frozenset(founders | {newcomer})
    chamber.wait_voter(newcomer, 30)
    assert listing(chamber)[name(newcomer)].startswith("voter known=")

    again = one_line_error(cli(chamber, "members", "add", name(newcomer)))
    assert f"refused: {name(newcomer)} is a member already" in again
    stranger = one_line_error(cli(chamber, "members", "remove", "00000000abcd"))
    assert "refused: 00000000abcd is not a member" in stranger

    # a god whose target (5) is above the four members leaves the admission alone
    chamber.god = chamber.spawn_god(5)
    time.sleep(3)
    assert chamber.god.alive, chamber.god.tail()
    assert president_members(chamber) == frozenset(founders | {newcomer})
    passed = cli(chamber, "petition", "four vote", "--timeout", "20")
    assert passed.returncode == 0 and passed.stdout.endswith(",four vote\n"), passed.stderr

    # two of the four die: removing a live one would leave 1 of 3 alive, under a majority
    president = chamber.president()
    dead = sorted(p for p in chamber.priests if p != president)[:2]
    alive = next(p for p in chamber.priests if p not in dead and p != president)
    for priest in dead:
        chamber.kill(priest)
    wait_for(lambda: not set(dead) & set(chamber.beats()), 10, "the dead priests' beats to end")
    assert all(listing(chamber)[name(p)] == "voter not alive" for p in dead)
    line = one_line_error(cli(chamber, "members", "remove", name(alive)))
    assert line == ("paxos-redis: error: refused: after it, 1 of 3 members would be alive, "
                    "fewer than the majority of 2 needed to pass anything"), line
    time.sleep(0.5)
    members = president_members(chamber)
    assert members == frozenset(founders | {newcomer}), "the refused change was passed"


def test_members_and_priest_refuse_bad_identities_with_one_line(
        redis_server: RedisServer, tmp_path: Path) -> None:
    p = Parliament(redis_server.url, tmp_path / "p", priests=3, name=NAME)   # nothing started
    try:
        empty = one_line_error(cli(p, "members"))
        assert f"no priest of parliament '{NAME}' beats" in empty
        missing = one_line_error(cli(p, "members", "add"))
        assert "members add needs the priest's identity (12 hex digits" in missing
        for bad in ("zz", "0", "1234567890abc", "-1"):
            line = one_line_error(cli(p, "members", "remove", bad))
            assert f"a priest's identity is up to 12 hex digits, got '{bad}'" in line, line
        nobody = one_line_error(cli(p, "members", "add", "00000000abcd"))
        assert "no president acts" in nobody
        usage = cli(p, "members", "promote", "00000000abcd")
        assert usage.returncode == 2 and "invalid choice: 'promote'" in usage.stderr

        ledgers = tmp_path / "ledgers"
        done = cli(p, "priest", "--identity", "abcd", "--ledger-dir", str(ledgers))
        line = one_line_error(done)
        assert f"--identity abcd: no ledger {ledgers / f'{NAME}-00000000abcd.ledger'}" in line
        assert "start with no --identity to join as a new priest" in line
        assert not list(ledgers.glob("*.ledger")), "a ledger was made for a missing identity"
        assert not p.beats(), "a priest beat without its ledger"
    finally:
        p.close()


def test_a_copy_of_a_running_priests_ledger_refuses_to_start(chamber: Parliament,
                                                             tmp_path: Path) -> None:
    """The copy names the process that acts as the priest (host and pid), exits non-zero,
    never beats nor votes, and leaves the copy as it was; the original runs on."""
    priest = next(p for p in chamber.priests if p != chamber.president())
    original = chamber.priests[priest]
    before = chamber.known()[priest]
    for k, extra in enumerate(([], ["--identity", name(priest)])):
        copy_dir = tmp_path / f"copy-{k}"
        copy_dir.mkdir()
        copy = copy_dir / chamber.ledger_path(priest).name
        shutil.copyfile(chamber.ledger_path(priest), copy)
        data = copy.read_bytes()
        argv = [*cli_command(), "priest", "--ledger-dir", str(copy_dir), *extra]
        proc = subprocess.Popen(argv, env=chamber.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=chamber.root)
        beats_seen = []
        while proc.poll() is None:
            beats_seen += [b.pid for b in chamber.beats().values() if b.pid == proc.pid]
            time.sleep(0.05)
        out, err = proc.communicate(timeout=30)
        line = one_line_error(subprocess.CompletedProcess(argv, proc.returncode, out, err))
        assert f"priest {name(priest)} is already running: host {HOST} pid {original.pid}" \
            in line, line
        assert not beats_seen, "the copy beat as the priest"
        assert copy.read_bytes() == data, "the copy's ledger was written"
        assert list(copy_dir.glob("*.ledger")) == [copy], "a new priest was made instead"
        assert original.alive, original.tail()
        assert chamber.beats()[priest].pid == original.pid
    done = cli(chamber, "petition", "after the copies", "--timeout", "20")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: chamber.known()[priest] > before, 20, "the original to learn on")
