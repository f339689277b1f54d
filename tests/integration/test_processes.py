"""The running system: a god and five priest processes on a real redis-server, under faults.

Each test starts its own ``redis-server`` (fixture ``redis_server``) and its own processes
(:class:`processes.Parliament`, every process killed by the fixture's finalizer), drives
concurrent citizens through :class:`paxos_redis.citizen.client.Client`, injects one fault
(kill -9 of the president, kill -9 and empty restart of Redis, a priest stopped and
restarted, a petition retried across a failover, SIGTERM and a locked ledger) and then
asserts outcomes: every priest's law, read from its ledger file with
``paxos-redis ledger --law`` after SIGTERM and through ``Client.law()``, is one law holding
every acknowledged petition exactly once, at the number its citizen was given.  Each priest
has a ledger directory of its own (a new identity each); ``test_identity.py`` covers
shared directories and changes of membership.

Measured numbers (throughput, failover and catch-up seconds) are printed (``-s``), attached
with ``record_property`` and written as JSON to ``$PAXOS_METRICS_FILE`` or
``<pytest basetemp>/process-metrics.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from citizen_load import Citizens, Outcome, check_law, law_map
from processes import Parliament, cli_command, wait_for
from redis_server import RedisServer

from paxos_redis.citizen.client import Client
from paxos_redis.citizen.session import parse_reply
from paxos_redis.errors import ParliamentUnavailable, PetitionTimeout
from paxos_redis.protocol import Receipt
from paxos_redis.protocol.membership import name
from paxos_redis.protocol.records import Identity, Passed
from paxos_redis.storage.ledger import FileLedger

pytestmark = pytest.mark.redis

PRIESTS = 5
NAME = "test"


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, Any]] = {}
    yield found
    if found:
        path = Path(os.environ.get("PAXOS_METRICS_FILE")
                    or tmp_path_factory.getbasetemp() / "process-metrics.json")
        path.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
        print(f"\nprocess-test metrics written to {path}")


@pytest.fixture
def report(request: pytest.FixtureRequest, record_property: Callable[[str, Any], None],
           metrics: dict[str, dict[str, Any]]) -> Callable[..., None]:
    """``report(name=value, ...)``: print, attach to the test's junit properties, keep as JSON."""
    def note(**values: Any) -> None:
        mine = metrics.setdefault(request.node.name, {})
        for key, value in values.items():
            value = round(value, 3) if isinstance(value, float) else value
            mine[key] = value
            record_property(key, value)
        print(f"\n[{request.node.name}] " + ", ".join(f"{k}={v}" for k, v in mine.items()))
    return note


@pytest.fixture
def parliament(redis_server: RedisServer, tmp_path: Path) -> Iterator[Parliament]:
    """Not started: each test starts what it needs.  Every process is ended afterwards."""
    chamber = Parliament(redis_server.url, tmp_path / "parliament", priests=PRIESTS, name=NAME)
    try:
        yield chamber
    finally:
        chamber.close()


@pytest.fixture
def citizens_factory(redis_server: RedisServer) -> Iterator[Callable[..., Citizens]]:
    made: list[Citizens] = []

    def make(total: int, prefix: str, **kw: Any) -> Citizens:
        citizens = Citizens(redis_server.url, NAME, total, prefix=prefix, **kw)
        made.append(citizens)
        return citizens
    yield make
    for citizens in made:
        citizens.close()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[Client]:
    with Client.from_url(redis_server.url, parliament=NAME) as one:
        yield one


# ------------------------------------------------------------------ shared checks

def client_law(client: Client, timeout: float = 30.0) -> dict[str, int]:
    """``Client.law(linearizable=True)`` as body -> number (a body twice fails)."""
    return law_map(f"{n},{body.decode()}" for n, body in client.law(linearizable=True,
                                                                     timeout=timeout))


def settle_and_read_ledgers(parliament: Parliament,
                            priests: list[int] | None = None) -> dict[int, list[str]]:
    """Wait until ``priests`` (default: every live one) agree, SIGTERM every priest (each
    must exit 0), and return each one's ``paxos-redis ledger --law`` lines."""
    priests = sorted(parliament.live()) if priests is None else priests
    parliament.wait_converged(30, priests=priests)
    codes = parliament.stop_all()
    assert all(code == 0 for code in codes.values()), f"exit statuses after SIGTERM: {codes}"
    return {priest: parliament.ledger_law(priest) for priest in priests}


def assert_one_law(ledgers: dict[int, list[str]], via_client: dict[str, int]) -> dict[str, int]:
    first_priest = min(ledgers)
    first = ledgers[first_priest]
    for priest, lines in ledgers.items():
        differ = next(((a, b) for a, b in zip(lines, first, strict=False) if a != b), None)
        assert lines == first, (f"{name(priest)}'s law ({len(lines)} lines) differs from "
                                f"{name(first_priest)}'s ({len(first)} lines); first "
                                f"difference: {differ}")
    law = law_map(first)
    assert law == via_client, (f"Client.law() ({len(via_client)} petitions) differs from the "
                               f"ledgers' law ({len(law)}): e.g. "
                               f"{sorted(set(law.items()) ^ set(via_client.items()))[:5]}")
    return law


class Probe(threading.Thread):
    """One petition, sent when the thread starts, retried with the same pid until it passes;
    ``seconds`` from ``since`` until its decree number came back."""

    def __init__(self, url: str, pid: str, since: float, give_up: float = 60.0) -> None:
        super().__init__(name=f"probe-{pid}", daemon=True)
        self.url, self.pid, self.since, self.give_up = url, pid, since, give_up
        self.n: int | None = None
        self.seconds: float | None = None
        self.errors: list[str] = []

    def run(self) -> None:
        with Client.from_url(self.url, parliament=NAME) as citizen:
            until = time.monotonic() + self.give_up
            while self.n is None and time.monotonic() < until:
                try:
                    self.n = citizen.petition(self.pid, timeout=5.0, pid=self.pid)
                    self.seconds = time.monotonic() - self.since
                except (PetitionTimeout, ParliamentUnavailable) as exc:
                    self.errors.append(type(exc).__name__)

    def result(self, timeout: float) -> tuple[int, float]:
        self.join(timeout)
        assert self.n is not None and self.seconds is not None, \
            f"probe petition {self.pid!r} never passed (errors: {self.errors})"
        return self.n, self.seconds


# ------------------------------------------------------------------ (a) load, no faults

def test_five_priests_pass_2000_concurrent_petitions_into_one_law(
        parliament: Parliament, citizens_factory: Callable[..., Citizens], client: Client,
        report: Callable[..., None]) -> None:
    parliament.start()
    citizens = citizens_factory(2000, "a", shared=4, own=1)
    began = time.monotonic()
    citizens.start().join(150)
    elapsed = time.monotonic() - began
    assert len(citizens.acked()) == 2000, f"{len(citizens.unacked())} petitions got no number"

    via_client = client_law(client)
    ledgers = settle_and_read_ledgers(parliament)
    assert len(ledgers) == PRIESTS
    law = assert_one_law(ledgers, via_client)
    check_law(law, citizens)
    assert len(law) == 2000
    parliament.check_one_law()
    report(petitions=2000, seconds=elapsed, per_second=2000 / elapsed,
           retried_petitions=citizens.retried(), law_lines=len(law))


def test_one_petition_at_a_time_is_answered_by_the_voters_receipts(
        parliament: Parliament, redis_server: RedisServer, client: Client) -> None:
    """A sequential citizen's petition takes the lowest number the president has not seen
    pass, so the voters send it receipts: a majority of the members at one ballot, at the
    very number the law gives the petition; every receipt is from a member."""
    parliament.start()
    members = parliament.members()
    assert len(members) == PRIESTS
    with Client.from_url(redis_server.url, parliament=NAME, citizen_id="receipts-1") as citizen:
        given = {citizen.petition(f"seq-{i}", pid=f"seq-{i}"): f"seq-{i}" for i in range(20)}
        entries = citizen.redis.xrange(citizen.reply_stream)
    votes: dict[tuple[str, int, Any], set[int]] = {}
    for _, fields in entries:
        for item in parse_reply(fields):
            if isinstance(item, Receipt):
                assert item.of == PRIESTS and item.priest in members, item
                votes.setdefault((item.petition, item.n, item.ballot), set()).add(item.priest)
    counted = {pid: n for (pid, n, _), voters in votes.items() if len(voters) > PRIESTS // 2}
    assert counted == {pid: n for n, pid in given.items()}
    law = client_law(client)
    assert {f"seq-{i}" for i in range(20)} <= set(law)
    assert all(law[pid] == n for n, pid in given.items())


# ------------------------------------------------------------------ (b) president kill -9

def test_kill_9_of_the_president_mid_load_loses_and_doubles_nothing(
        parliament: Parliament, citizens_factory: Callable[..., Citizens], client: Client,
        redis_server: RedisServer, report: Callable[..., None]) -> None:
    parliament.start()
    citizens = citizens_factory(1200, "b", timeout=3.0).start()
    citizens.wait_acked(300, 60)

    old = parliament.current_president()
    assert old is not None, parliament.explain()
    victim = parliament.priests[old]
    acked_before = citizens.acked_count
    killed_at = time.monotonic()
    parliament.kill(old)
    probe = Probe(redis_server.url, "probe-after-kill", killed_at)
    probe.start()
    new = parliament.president(20, exclude_pid=victim.pid)
    president_seen = time.monotonic() - killed_at
    probe_n, failover = probe.result(60)
    assert new != old
    citizens.join(150)

    # every petition returned a number, or raised an error its citizen saw (then retried)
    for outcome in citizens.outcomes.values():
        assert outcome.n is not None or outcome.errors, outcome
    after = [o.acked - killed_at for o in citizens.outcomes.values()
             if o.acked is not None and o.sent > killed_at]
    via_client = client_law(client)
    assert via_client.get("probe-after-kill") == probe_n
    ledgers = settle_and_read_ledgers(parliament)
    assert old not in ledgers and len(ledgers) == PRIESTS - 1
    law = assert_one_law(ledgers, via_client)
    check_law(law, citizens)                 # each pid once, at the number its citizen got
    # the killed priest's ledger replays, and agrees with the law wherever it knows it
    for line in parliament.ledger_law(old):
        n, _, body = line.partition(",")
        assert body in law and law[body] <= int(n), \
            f"killed {name(old)} has {line!r}, the law has {body!r} at {law.get(body)}"
    union = parliament.check_one_law()
    passings: dict[str, int] = {}
    for text in union.values():
        if text != "olive-day":
            passings[text] = passings.get(text, 0) + 1
    report(petitions=len(citizens.outcomes), acked_before_kill=acked_before,
           killed=name(old), new_president=name(new),
           failover_seconds=failover, new_president_heartbeat_seconds=president_seen,
           first_load_ack_after_kill_seconds=min(after) if after else None,
           petitions_in_flight_retried=citizens.retried(),
           passed_again_in_raw_ledgers=sum(1 for c in passings.values() if c > 1),
           citizen_errors_seen=sum(len(o.errors) for o in citizens.outcomes.values()))


# ------------------------------------------------------------------ (c) Redis restarts empty

def test_redis_kill_9_and_empty_restart_mid_load_loses_nothing_acknowledged(
        parliament: Parliament, citizens_factory: Callable[..., Citizens], client: Client,
        redis_server: RedisServer, report: Callable[..., None]) -> None:
    parliament.start()
    pids = {priest: p.pid for priest, p in parliament.live().items()}
    citizens = citizens_factory(1200, "c", timeout=3.0).start()
    citizens.wait_acked(300, 60)

    acked_before = dict(citizens.acked())
    down_at = time.monotonic()
    redis_server.kill()
    time.sleep(0.5)
    redis_server.restart()
    up_at = time.monotonic()
    probe = Probe(redis_server.url, "probe-after-restart", up_at)
    probe.start()
    probe_n, recovery = probe.result(90)
    citizens.join(150)

    # no operator action: every process we started is still the one running
    assert parliament.god is not None and parliament.god.alive, parliament.god.tail()
    assert {priest: p.pid for priest, p in parliament.live().items()} == pids, \
        parliament.explain()
    # ... and the god noticed that Redis came back empty: the founding is in the ledgers
    assert "Redis holds no founding" in parliament.god.log.read_text(), parliament.god.tail()
    assert set(parliament.voters()) == set(pids), parliament.explain()
    via_client = client_law(client)
    assert via_client.get("probe-after-restart") == probe_n
    ledgers = settle_and_read_ledgers(parliament)
    law = assert_one_law(ledgers, via_client)
    lost = {pid: n for pid, n in acked_before.items() if law.get(pid) != n}
    assert not lost, f"acknowledged before the restart but not in the law at their numbers: {lost}"
    check_law(law, citizens)
    parliament.check_one_law()
    report(petitions=len(citizens.outcomes), acked_before_restart=len(acked_before),
           redis_down_seconds=up_at - down_at, recovery_seconds_after_restart=recovery,
           petitions_retried=citizens.retried(),
           citizen_errors_seen=sum(len(o.errors) for o in citizens.outcomes.values()))


# ------------------------------------------------------------------ (d) a priest catches up

def test_a_priest_stopped_while_500_decrees_pass_catches_up_after_restart(
        parliament: Parliament, citizens_factory: Callable[..., Citizens], client: Client,
        report: Callable[..., None]) -> None:
    parliament.start()
    president = parliament.current_president()
    priest = next(p for p in parliament.live() if p != president)
    before = parliament.known()[priest]
    assert parliament.stop(priest) == 0

    citizens_factory(500, "d").start().join(90)
    target = parliament.wait_converged(30)
    assert target >= before + 500

    restarted_at = time.monotonic()
    parliament.restart(priest)               # the same identity, from its own ledger
    beating = time.monotonic() - restarted_at
    known_when_beating = parliament.known().get(priest)
    wait_for(lambda: parliament.known().get(priest, -1) >= target, 30,
             f"{name(priest)} to learn up to {target}", explain=parliament.explain)
    caught_up = time.monotonic() - restarted_at
    assert priest in parliament.voters()     # still a member: it votes again

    via_client = client_law(client)
    ledgers = settle_and_read_ledgers(parliament)
    assert len(ledgers) == PRIESTS
    law = assert_one_law(ledgers, via_client)
    assert sum(1 for body in law if body.startswith("d-")) == 500
    parliament.check_one_law()
    report(stopped=name(priest), decrees_missed=target - before,
           restart_to_beat_seconds=beating,
           known_at_first_heartbeat=known_when_beating, target_known=target,
           catch_up_seconds=caught_up)


# ------------------------------------------------------------------ (e) retry across failover

def test_a_petition_retried_across_a_president_failover_is_in_the_law_once(
        parliament: Parliament, client: Client, redis_server: RedisServer,
        report: Callable[..., None]) -> None:
    parliament.start()
    client.petition("e-warm", timeout=10, pid="e-warm")
    old = parliament.current_president()
    assert old is not None
    victim = parliament.priests[old]
    # freeze three followers: the president can propose but never reach a majority
    frozen = [p for p in parliament.live() if p != old][:3]
    for priest in frozen:
        parliament.kill(priest, signal.SIGSTOP)

    pid = "e-retried"
    outcome = Outcome(pid, sent=time.monotonic())

    def citizen() -> None:
        with Client.from_url(redis_server.url, parliament=NAME) as mine:
            while outcome.n is None and time.monotonic() < outcome.sent + 60:
                outcome.attempts += 1
                try:
                    outcome.n = mine.petition(pid, timeout=2.0, pid=pid)
                except (PetitionTimeout, ParliamentUnavailable) as exc:
                    outcome.errors.append(type(exc).__name__)

    thread = threading.Thread(target=citizen, daemon=True)
    thread.start()
    try:
        # the president has read the petition and voted for it in its own ledger ...
        wait_for(lambda: f"id={pid} " in parliament.ledger_dump(old), 15,
                 "the president to vote for the petition", interval=0.1,
                 explain=parliament.explain)
        # ... and the citizen saw a timeout; now the president dies with the ballot open
        wait_for(lambda: outcome.errors, 15, "the citizen's first timeout")
        killed_at = time.monotonic()
        parliament.kill(old)
    finally:
        for priest in frozen:
            parliament.kill(priest, signal.SIGCONT)
    thread.join(70)
    assert outcome.n is not None, f"the retried petition never passed: {outcome}"
    failover = time.monotonic() - killed_at
    new = parliament.president(20, exclude_pid=victim.pid)
    assert new != old

    # a fresh citizen (another reply stream) sends the SAME pid again after the failover
    with Client.from_url(redis_server.url, parliament=NAME) as other:
        assert other.petition(pid, timeout=10, pid=pid) == outcome.n
    parliament.restart(old)                  # the killed president replays its ledger
    via_client = client_law(client)
    assert via_client.get(pid) == outcome.n
    ledgers = settle_and_read_ledgers(parliament)
    assert len(ledgers) == PRIESTS
    law = assert_one_law(ledgers, via_client)
    for priest, lines in ledgers.items():
        mine = [line for line in lines if line.split(",", 1)[1] == pid]
        assert mine == [f"{outcome.n},{pid}"], f"{name(priest)}'s ledger --law prints {mine}"
    assert set(law) == {"e-warm", pid}
    union = parliament.check_one_law()
    raw = sorted(n for n, text in union.items() if text.startswith(f"id={pid} "))
    assert raw and raw[0] == outcome.n, f"{pid} passed at {raw}, its citizen was given {outcome.n}"
    report(attempts=outcome.attempts, citizen_errors=outcome.errors, number=outcome.n,
           raw_passings=raw, seconds_from_kill_to_answer=failover)


# ------------------------------------------------------------------ (f) SIGTERM, locked ledger

def test_sigterm_exits_0_the_ledger_reopens_and_a_locked_ledger_is_refused(
        parliament: Parliament, client: Client, report: Callable[..., None]) -> None:
    parliament.start()
    numbers = [client.petition(f"f-{k}", timeout=10, pid=f"f-{k}") for k in range(20)]

    # a second process for a running priest (its ledger, by --identity): one line, locked
    priest = min(parliament.live())
    holder = parliament.priests[priest]
    began = time.monotonic()
    second = subprocess.run([sys.executable, str(Path(__file__).parents[2] / "workers" /
                                                 "priest.py"), "--identity", name(priest)],
                            capture_output=True, text=True, timeout=60,
                            env={**parliament.env(),
                                 "PAXOS_LEDGER_DIR": str(parliament.dirs[priest])},
                            cwd=str(parliament.root))
    refused_in = time.monotonic() - began
    lines = second.stderr.strip().splitlines()
    assert second.returncode != 0
    assert len(lines) == 1 and "locked" in lines[0], second.stderr
    assert str(holder.pid) in lines[0], lines[0]          # it names the holder
    assert second.stdout == ""
    assert holder.alive and parliament.beats()[priest].pid == holder.pid

    parliament.wait_converged(15)
    stopping = time.monotonic()
    assert parliament.stop(priest, timeout=5) == 0
    stopped_in = time.monotonic() - stopping
    assert priest not in parliament.beats(), "a stopped priest took its heartbeat with it"

    with FileLedger.open(parliament.ledger_path(priest)) as ledger:
        first = ledger.records[0]
        assert isinstance(first, Identity) and (first.parliament, first.priest) == (NAME, priest)
        assert ledger.torn_tail is None
        passed: dict[str, int] = {}
        for record in ledger.records:
            for n, decree in record.entries if isinstance(record, Passed) else ():
                passed[decree.petition] = min(n, passed.get(decree.petition, n))
    assert [passed[f"f-{k}"] for k in range(20)] == numbers
    dump = subprocess.run([*cli_command(), "ledger", "--file", str(parliament.ledger_path(priest)),
                           "--law"], capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0 and len(dump.stdout.splitlines()) == 20, dump

    parliament.restart(priest)               # the same priest, from the same ledger
    assert priest in parliament.voters()
    assert client.petition("f-after", timeout=10, pid="f-after") > max(numbers)
    via_client = client_law(client)
    ledgers = settle_and_read_ledgers(parliament)
    assert len(ledgers) == PRIESTS
    law = assert_one_law(ledgers, via_client)
    assert [law[f"f-{k}"] for k in range(20)] == numbers and "f-after" in law
    report(sigterm_exit_seconds=stopped_in, locked_refusal_seconds=refused_in,
           refusal=lines[0][:120])
