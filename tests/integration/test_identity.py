"""Priests are identities, and who votes is law: real redis-server, real priest processes.

The issue: priests took numbered seats found from files in their ledger directory, so a
priest in another directory could take a seat a running priest held, and two processes
voted as one.  Now a priest is its ledger (a random identity drawn when it is made),
several may share a directory (each takes a ledger no other process holds), and the god
admits and removes priests by decree.  These tests run the issue's reproduction with and
without faults, three priests in three directories, a parliament growing while it runs,
a dead priest replaced, and a priest whose ledger was deleted coming back as a new one.
Each ends by reading every ledger's law (``paxos-redis ledger --file F --law``): one law,
holding every acknowledged petition once, at the number its citizen was given.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from citizen_load import law_map
from ledger_checks import ledger_records
from processes import Parliament, cli_command, wait_for
from redis_server import RedisServer

from paxos_redis.citizen.client import Client
from paxos_redis.errors import ParliamentUnavailable, PetitionTimeout
from paxos_redis.protocol.membership import name
from paxos_redis.protocol.records import Identity, Passed, Promise, Votes

pytestmark = pytest.mark.redis

NAME = "ident"


@pytest.fixture
def make(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Parliament]]:
    """``make(priests=N, shared=...)``: a Parliament (not started), ended afterwards."""
    made: list[Parliament] = []

    def new(**kw: object) -> Parliament:
        chamber = Parliament(redis_server.url, tmp_path / "parliament", name=NAME,
                             **kw)  # type: ignore[arg-type]
        made.append(chamber)
        return chamber
    yield new
    for chamber in made:
        chamber.close()


def cli(p: Parliament, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli_command(), *args], env=p.env(), capture_output=True, text=True,
                          timeout=timeout, cwd=str(p.root))


def petition(p: Parliament, body: str, timeout: float = 10) -> int | None:
    """``paxos-redis petition BODY``: its decree number, or None if it failed."""
    done = cli(p, "petition", body, "--timeout", f"{timeout:g}", timeout=timeout + 30)
    if done.returncode != 0:
        return None
    n, _, echoed = done.stdout.strip().partition(",")
    assert echoed == body, done.stdout
    return int(n)


def final_laws(p: Parliament) -> dict[Path, list[str]]:
    """Converge, SIGTERM every priest (exit 0), and read every ledger's law with the CLI."""
    p.wait_converged(60)
    codes = p.stop_all()
    assert all(code == 0 for code in codes.values()), f"exit statuses after SIGTERM: {codes}"
    return {path: p.ledger_law(path) for path in p.ledgers()}


def assert_one_law(laws: dict[Path, list[str]], acked: dict[str, int], *,
                   behind: set[Path] = frozenset()) -> dict[str, int]:  # type: ignore[assignment]
    """Every ledger holds the same law (those in ``behind``: a prefix of it); every
    acknowledged petition is in it once, at its number."""
    full = {path: lines for path, lines in laws.items() if path not in behind}
    first = next(iter(full.values()))
    for path, lines in full.items():
        assert lines == first, f"{path.name}'s law ({len(lines)} lines) differs from another's"
    for path in behind:
        assert laws[path] == first[:len(laws[path])], f"{path.name}'s law is no prefix of the law"
    law = law_map(first)                             # a body twice fails here
    wrong = {body: (n, law.get(body)) for body, n in acked.items() if law.get(body) != n}
    assert not wrong, f"acknowledged petitions missing or elsewhere (given, in law): {wrong}"
    assert len(set(acked.values())) == len(acked), "two petitions were given one number"
    return law


def never_voted(path: Path) -> None:
    """A listener's ledger: no promise and no vote, ever (nobody counted it)."""
    records = ledger_records(path)
    assert not [r for r in records if isinstance(r, (Promise, Votes))], \
        f"{path.name} promised or voted: it was counted"
    assert any(isinstance(r, Passed) for r in records), f"{path.name} learned no law"


def status_roles(p: Parliament) -> dict[str, str]:
    """``paxos-redis status``: priest (hex) -> role, from its table."""
    done = cli(p, "status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["priest", "role"])
    return {row.split()[0]: row.split()[1] for row in lines[header + 1:] if row.strip()}


def six_priests(make: Callable[..., Parliament]) -> tuple[Parliament, list[int], int, Path]:
    """The issue's setup: a god with --priests 5, five priests in one ledger directory,
    a sixth in another.  Returns the parliament, the five, the sixth and its directory."""
    p = make(priests=5, shared=True)
    p.start()
    five = sorted(p.live())
    assert len(five) == 5 and p.voters() == set(five), p.explain()
    files = sorted(f.name for f in p.ledger_dir.glob("*.ledger"))
    assert files == sorted(f"{NAME}-{name(x)}.ledger" for x in five)
    other = p.ledger_root / "elsewhere"
    sixth = p.wait_beating(p.start_priest(ledger_dir=other))
    assert sixth not in five
    wait_for(lambda: sixth in p.listeners(), 20, "the sixth priest to listen", explain=p.explain)
    return p, five, sixth, other


# ------------------------------------------------------------------ 1. the issue

def test_the_issue_five_priests_in_one_directory_and_a_sixth_elsewhere(
        make: Callable[..., Parliament]) -> None:
    p, five, sixth, other = six_priests(make)
    acked = {}
    for k in range(20):
        n = petition(p, f"issue-{k}")
        assert n is not None, f"petition {k} failed\n{p.explain()}"
        acked[f"issue-{k}"] = n
    assert sorted(acked.values()) == list(acked.values()), "one at a time: in order"
    assert p.voters() == set(five) and sixth in p.listeners() and sixth not in p.members()
    roles = status_roles(p)
    assert {roles[name(x)] for x in five} == {"voter"} and roles[name(sixth)] == "listener"
    laws = final_laws(p)
    assert len(laws) == 6
    law = assert_one_law(laws, acked)
    assert set(law) == set(acked)
    never_voted(other / f"{NAME}-{name(sixth)}.ledger")


def test_the_issue_under_kill_9_and_restarts_of_every_priest(
        make: Callable[..., Parliament]) -> None:
    p, five, sixth, other = six_priests(make)
    rng = random.Random(5)
    acked: dict[str, int] = {}
    tried: list[str] = []
    stop = threading.Event()

    def citizen() -> None:              # one petition at a time; a failed one is tried anew
        k = 0
        while not stop.is_set() or len(acked) < 20:
            body = f"fault-{k}-{len(tried)}"
            tried.append(body)
            n = petition(p, body)
            if n is not None:
                acked[body] = n
                k += 1
    thread = threading.Thread(target=citizen, daemon=True)
    thread.start()
    victims = ["president", "sixth", "voter", "sixth", "president"]
    for which in victims:
        time.sleep(rng.uniform(1.0, 2.5))
        president = p.president()
        victim = {"president": president, "sixth": sixth,
                  "voter": rng.choice([x for x in five if x != president])}[which]
        p.kill(victim)                                   # kill -9
        time.sleep(rng.uniform(0.2, 1.5))
        # restarted as compose would: no flags, in its directory (the shared one: the one
        # ledger no process holds there is its own)
        back = p.wait_beating(p.start_priest(ledger_dir=p.dirs[victim]))
        assert back == victim, f"{name(victim)} came back as {name(back)}"
    stop.set()
    thread.join(180)
    assert not thread.is_alive(), f"petitions stalled: {len(acked)} acknowledged\n{p.explain()}"
    assert p.voters() == set(five) and sixth in p.listeners(), p.explain()
    laws = final_laws(p)
    assert len(laws) == 6
    law = assert_one_law(laws, acked)
    assert set(law) <= set(tried), f"the law holds petitions nobody sent: {set(law) - set(tried)}"
    never_voted(other / f"{NAME}-{name(sixth)}.ledger")
    print(f"\n[kill -9 x{len(victims)}] {len(acked)} acknowledged of {len(tried)} tried")


# ------------------------------------------------------------------ 2. three directories

def test_three_priests_in_three_directories_fill_three_places(
        make: Callable[..., Parliament]) -> None:
    p = make(priests=3).start()
    priests = sorted(p.live())
    assert p.voters() == set(priests) and len(priests) == 3
    dirs = {p.dirs[x] for x in priests}
    assert len(dirs) == 3 and all(len(list(d.glob("*.ledger"))) == 1 for d in dirs)
    done = cli(p, "petition", "a=1", "b=2", "c=3", "--timeout", "20")
    assert done.returncode == 0, done.stderr
    acked = {line.split(",", 1)[1]: int(line.split(",", 1)[0]) for line in done.stdout.split()}
    assert set(acked) == {"a=1", "b=2", "c=3"}
    assert set(assert_one_law(final_laws(p), acked)) == set(acked)


# ------------------------------------------------------------------ 3. growing

def test_two_priests_join_a_running_parliament_and_vote(
        make: Callable[..., Parliament], record_property: Callable[[str, object], None]) -> None:
    p = make(priests=3).start()
    before = petition(p, "before")
    assert before is not None
    assert p.stop_god() == 0
    p.start_god(5)                                       # the operator raises the target
    began = [(p.start_priest(wait=False), time.monotonic()) for _ in range(2)]
    seconds = {}
    for process, t0 in began:
        priest = p.wait_beating(process)
        wait_for(lambda x=priest: x in p.voters() and status_roles(p).get(name(x)) == "voter",
                 120, f"{name(priest)} to be admitted", interval=0.05, explain=p.explain)
        seconds[name(priest)] = time.monotonic() - t0
    assert len(p.voters()) == 5 and not p.listeners(), p.explain()
    # two of the first three frozen: a majority of the five needs both newcomers' votes
    president = p.president()
    frozen = [x for x in p.voters() if x != president and x not in
              {process.priest for process, _ in began}][:2]
    for priest in frozen:
        p.kill(priest, signal.SIGSTOP)
    try:
        acked = {f"after-{k}": petition(p, f"after-{k}", timeout=20) for k in range(3)}
    finally:
        for priest in frozen:
            p.kill(priest, signal.SIGCONT)
    assert None not in acked.values(), p.explain()
    for process, _ in began:
        assert process.priest is not None
        assert any(isinstance(r, Votes) for r in ledger_records(p.ledger_path(process.priest))), \
            f"{name(process.priest)} never voted"
    laws = final_laws(p)
    law = assert_one_law(laws, {**acked, "before": before})  # type: ignore[dict-item]
    assert len(laws) == 5 and set(law) == {"before", *acked}
    for key, value in seconds.items():
        record_property(f"admission_seconds_{key}", round(value, 2))
    print("\n[admission] from a new priest's start to voter: " +
          ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()))


# ------------------------------------------------------------------ 4. replacing a dead priest

def test_a_dead_voter_is_removed_and_a_listener_takes_its_place(
        make: Callable[..., Parliament], redis_server: RedisServer) -> None:
    p = make(priests=3)
    p.start_god(3, remove_after=2)
    founders = [p.start_priest(wait=False) for _ in range(3)]
    for process in founders:
        p.wait_beating(process)
    p.wait_founded()
    p.president()
    spare = p.wait_beating(p.start_priest())
    wait_for(lambda: spare in p.listeners(), 20, "a listener", explain=p.explain)
    acked: dict[str, int] = {}
    stop = threading.Event()

    def citizen() -> None:
        with Client.from_url(redis_server.url, parliament=NAME) as client:
            k = 0
            while not stop.is_set():
                try:
                    acked[f"r-{k}"] = client.petition(f"r-{k}", timeout=3, pid=f"r-{k}")
                    k += 1
                except (PetitionTimeout, ParliamentUnavailable):
                    continue                          # the same pid again
    thread = threading.Thread(target=citizen, daemon=True)
    thread.start()
    wait_for(lambda: len(acked) >= 20, 30, "petitions to pass")
    dead = next(x for x in p.voters() if x != p.current_president())
    p.kill(dead)
    killed_at, count = time.monotonic(), len(acked)
    wait_for(lambda: dead not in p.members() and spare in p.voters(), 60,
             f"{name(dead)} removed and {name(spare)} admitted", interval=0.1,
             explain=p.explain)
    replaced = time.monotonic() - killed_at
    wait_for(lambda: len(acked) >= count + 20, 30, "petitions to keep passing",
             explain=p.explain)
    stop.set()
    thread.join(30)
    assert len(p.voters()) == 3 and dead not in p.voters()
    dump = p.ledger_dump(spare)
    assert f"id=!members:remove:{name(dead)}:" in dump and f"id=!members:admit:{name(spare)}:" \
        in dump, "the change was not by decree"
    dead_ledger = p.ledger_path(dead)
    laws = final_laws(p)
    assert len(laws) == 4
    assert_one_law(laws, acked, behind={dead_ledger})
    print(f"\n[replace] {name(dead)} killed; removed and {name(spare)} admitted "
          f"{replaced:.2f} s later; {len(acked)} petitions acknowledged")


# ------------------------------------------------------------------ 5. a ledger deleted

def test_a_priest_whose_ledger_was_deleted_comes_back_as_a_new_priest(
        make: Callable[..., Parliament]) -> None:
    p = make(priests=3)
    p.start_god(3, remove_after=2)
    for process in [p.start_priest(wait=False) for _ in range(3)]:
        p.wait_beating(process)
    p.wait_founded()
    p.president()
    assert petition(p, "before") is not None
    old = next(x for x in p.voters() if x != p.current_president())
    directory = p.dirs[old]
    dead_pid = p.kill(old, signal.SIGKILL).pid      # its beat lingers for a second
    shutil.rmtree(directory)                             # the disk is lost
    directory.mkdir()
    refused = cli(p, "priest", "--identity", name(old), "--ledger-dir", str(directory))
    assert refused.returncode == 1 and "no ledger" in refused.stderr, refused.stderr
    process = p.start_priest(ledger_dir=directory, wait=False)
    roles: list[str] = []
    seen_old: list[object] = []

    def admitted() -> bool:
        beats = p.beats()
        if old in beats and beats[old].pid != dead_pid:
            seen_old.append(beats[old])             # someone acts as the old priest
        mine = [b for b in beats.values() if b.pid == process.pid]
        if mine and (not roles or roles[-1] != mine[0].role):
            roles.append(mine[0].role)
        return bool(mine) and mine[0].priest in p.voters()
    wait_for(admitted, 60, "the new priest to be admitted", interval=0.02, explain=p.explain)
    new = p.wait_beating(process)
    assert new != old and not seen_old, f"{name(old)} beat again: {seen_old[:1]}"
    assert roles[0] in ("unfounded", "listener") and "listener" in roles \
        and roles[-1] == "voter", roles
    assert old not in p.members() and p.voters() >= {new}
    first = ledger_records(p.ledger_path(new))[0]
    assert isinstance(first, Identity) and first.priest == new
    assert [f.name for f in directory.glob("*.ledger")] == [f"{NAME}-{name(new)}.ledger"]
    assert petition(p, "after") is not None
    laws = final_laws(p)
    assert len(laws) == 3                                # the old ledger is gone for good
    law = assert_one_law(laws, {})
    assert set(law) == {"before", "after"}


# ------------------------------------------------------------------ 6. a copied ledger

def test_a_copy_of_a_running_priests_ledger_refuses_to_start_and_later_as_stale(
        make: Callable[..., Parliament]) -> None:
    """A copy of a running priest's ledger in another directory is refused while the
    priest runs (its claim in Redis), and, once the priest voted on without it, refused
    as an old copy even after the priest stopped (its stamp)."""
    p = make(priests=3).start()
    president = p.president()
    original, other = [x for x in sorted(p.voters()) if x != president]
    holder = p.priests[original]
    copy = p.ledger_root / "copy"
    copy.mkdir()
    shutil.copy2(p.ledger_path(original), copy / p.ledger_path(original).name)
    twin = cli(p, "priest", "--ledger-dir", str(copy))
    lines = twin.stderr.strip().splitlines()
    assert twin.returncode == 1 and len(lines) == 1, twin.stderr
    assert f"priest {name(original)} is already running" in lines[0], lines[0]
    assert f"pid {holder.pid}" in lines[0], lines[0]
    assert holder.alive and p.beats()[original].pid == holder.pid
    # the original votes on: with the third priest frozen, every decree needs its vote
    p.kill(other, signal.SIGSTOP)
    try:
        assert petition(p, "after the copy", timeout=20) is not None
    finally:
        p.kill(other, signal.SIGCONT)
    assert p.stop(original) == 0
    stale = cli(p, "priest", "--ledger-dir", str(copy))
    assert stale.returncode == 1 and "older than the ledger" in stale.stderr, stale.stderr
    assert original not in p.beats()
