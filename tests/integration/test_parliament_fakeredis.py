"""Offline: a whole parliament (god, 5 priests, citizens) in one process on fakeredis."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import fakeredis
import pytest
from inprocess import InProcessParliament

from paxos_redis.citizen.client import Client
from paxos_redis.runtime.settings import Settings
from paxos_redis.storage.ledger import FileLedger, law_lines


@pytest.fixture
def parliament(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = fakeredis.FakeServer()
    p = InProcessParliament(lambda: fakeredis.FakeRedis(server=server), tmp_path).start()
    p.server = server
    yield p
    p.close()


def client(p: InProcessParliament) -> Client:
    return Client(fakeredis.FakeRedis(server=p.server), p.settings.parliament)


def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_thousand_petitions_from_several_citizens_one_law(parliament: InProcessParliament,
                                                          tmp_path: Path) -> None:
    given: dict[str, int] = {}
    lock = threading.Lock()

    def citizen(k: int) -> None:
        c = client(parliament)
        for i in range(250):
            pid = f"c{k}-{i}"
            n = c.petition(f"decree {k}.{i}", timeout=20, pid=pid)
            with lock:
                given[pid] = n

    threads = [threading.Thread(target=citizen, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(given) == 1000
    assert len(set(given.values())) == 1000, "two petitions were given one decree number"
    law = client(parliament).law(linearizable=True)
    assert {n: body.decode() for n, body in law} == {
        n: f"decree {pid[1:].replace('-', '.')}" for pid, n in given.items()}
    top = max(given.values())
    wait_until(lambda: all(w.priest.law.known > top for w in parliament.workers.values()))
    parliament.close()
    ledgers = sorted(tmp_path.glob("*.ledger"))
    assert len(ledgers) == 5
    laws = []
    for path in ledgers:
        with FileLedger.open(path) as ledger:
            laws.append(law_lines(ledger.records)[: len(given)])
    assert all(law == laws[0] for law in laws) and len(laws[0]) == 1000


def test_retried_petition_passes_once_at_its_first_number(parliament: InProcessParliament) -> None:
    c = client(parliament)
    pid = str(uuid.uuid4())
    first = c.petition(b"once", pid=pid)
    c.petition(b"between")
    assert c.petition(b"once", pid=pid) == first
    law = c.law(linearizable=True)
    assert [n for n, body in law if body == b"once"] == [first]


def test_president_stopped_a_new_one_takes_over(parliament: InProcessParliament) -> None:
    c = client(parliament)
    c.petition(b"before")
    wait_until(lambda: parliament.president() is not None)
    old = parliament.president()
    assert old is not None
    parliament.stop_priest(old)
    n = c.petition(b"after", timeout=20)
    new = parliament.president()
    assert new is not None and new != old
    assert (n, b"after") in c.law(linearizable=True)


def test_priest_away_catches_up(parliament: InProcessParliament) -> None:
    c = client(parliament)
    c.petition(b"start")
    wait_until(lambda: parliament.president() is not None)
    away = next(s for s in parliament.workers if s != parliament.president())
    parliament.stop_priest(away)
    numbers = c.petition_many([f"d{i}" for i in range(300)], timeout=30)
    worker = parliament.start_priest(away)
    top = max(numbers)
    wait_until(lambda: worker.priest.law.known > top, timeout=20)
    assert worker.priest.law.decrees == {
        n: d for n, d in parliament.workers[parliament.president()].priest.law.decrees.items()
        if n < worker.priest.law.known}


def test_forged_and_malformed_entries_are_dead_lettered(tmp_path: Path) -> None:
    server = fakeredis.FakeServer()
    p = InProcessParliament(lambda: fakeredis.FakeRedis(server=server), tmp_path,
                            secret="s3cret").start()
    try:
        r = fakeredis.FakeRedis(server=server)
        c = Client(fakeredis.FakeRedis(server=server), p.settings.parliament)
        c.petition(b"real")
        keys = p.settings.keys
        member, other = list(p.workers)[:2]
        forged = {b"role": b"priest", b"code": b"2", b"from": str(other).encode(),
                  b"ballot": f"99.{other}".encode(), b"known": b"0", b"numbers": b"\x00" * 8,
                  b"parl": b"inproc"}
        r.xadd(keys.inbox(member), forged)
        r.xadd(keys.inbox(member), {b"role": b"president", b"code": b"9"})
        r.xadd(keys.inbox(member), {b"garbage": b"\xff"})
        wait_until(lambda: r.xlen(keys.deadletter()) >= 3)
        reasons = [f[b"reason"] for _, f in r.xrange(keys.deadletter())]
        assert any(b"authentication failed" in reason for reason in reasons)
        assert c.petition(b"still fine") > 0
    finally:
        p.close()


def test_a_god_never_founds_a_founded_parliament_again(parliament: InProcessParliament) -> None:
    """The founding is written once (HSETNX); another god, or one that finds Redis without
    it (a Redis restarted empty), leaves the ledgers' founding alone: the priests keep
    their genesis and their law, and the god writes back the genesis the priests beat."""
    from paxos_redis.messengers.heartbeat import read_roster
    from paxos_redis.runtime.god import God

    c = client(parliament)
    before = c.petition(b"founded")
    redis = fakeredis.FakeRedis(server=parliament.server)
    keys = parliament.settings.keys
    founding = parliament.god.founding()
    assert founding is not None and set(founding.members) == set(parliament.workers)
    genesis = {w.priest.law.members.genesis for w in parliament.workers.values()}
    assert genesis == {founding.genesis}
    other = God(parliament.settings, redis)                  # a second god: the same founding
    assert other.found(read_roster(redis, keys)) == founding
    parliament.god.stop()
    parliament.god_thread.join(5)
    redis.delete(keys.config())                              # Redis forgot the founding
    god = God(parliament.settings, redis, found_after_s=0)
    for _ in range(3):
        god.watch_once()
    assert redis.hget(keys.config(), "founding") is None, "a second founding was written"
    assert redis.hget(keys.config(), "genesis") == founding.genesis.encode()
    assert {w.priest.law.members.genesis for w in parliament.workers.values()} == genesis
    assert c.petition(b"still one parliament", timeout=20) > before
    empty = fakeredis.FakeRedis(server=fakeredis.FakeServer())   # no priests: nothing to found
    God(parliament.settings, empty, found_after_s=0).watch_once()
    assert not empty.exists(keys.config())


def test_a_new_priest_listens_and_a_god_wanting_more_voters_admits_it(tmp_path: Path) -> None:
    """Three founders; a fourth priest starts as a listener and learns the law; a god
    whose target is four asks the president to admit it, and once the change takes
    effect (alpha decrees on) it votes."""
    server = fakeredis.FakeServer()
    p = InProcessParliament(lambda: fakeredis.FakeRedis(server=server), tmp_path, priests=3,
                            alpha=64, change_every_s=0.2).start()
    p.server = server
    try:
        c = client(p)
        n = c.petition(b"before the newcomer")
        newcomer = p.start_priest()
        wait_until(lambda: newcomer.priest.law.known > n)
        assert newcomer.priest.role == "listener"
        assert newcomer.priest.id not in p.god.founding().members
        p.god.target = 4
        wait_until(lambda: newcomer.priest.role == "voter", timeout=20)
        president = p.workers[p.president()]
        wait_until(lambda: president.priest.law.members.at(president.priest.law.known,
                                                          president.priest.law.known)
                   == frozenset(p.workers), timeout=20)
        assert c.petition(b"four vote", timeout=20) > n
        law = c.law(linearizable=True)
        assert [body for _, body in law] == [b"before the newcomer", b"four vote"]
    finally:
        p.close()


def test_oversized_petition_is_refused_with_a_reason(tmp_path: Path) -> None:
    from paxos_redis.errors import PetitionRefused

    server = fakeredis.FakeServer()
    p = InProcessParliament(lambda: fakeredis.FakeRedis(server=server), tmp_path)
    p.settings = p.settings.with_(max_decree_bytes=1000)
    p.start()
    try:
        # a citizen whose own limit is higher than the priests': the priests refuse it
        c = Client(fakeredis.FakeRedis(server=server), p.settings.parliament,
                   max_decree_bytes=1 << 20)
        with pytest.raises(PetitionRefused, match="over the limit of 1000 bytes"):
            c.petition(b"x" * 5000)
        assert c.petition(b"small") >= 0
    finally:
        p.close()


def test_priest_away_longer_than_the_law_window_catches_up(tmp_path: Path) -> None:
    """With a 40-decree law window, a priest away for 600 decrees catches up from the
    others' archives (their memory no longer holds those decrees), compacts as it
    learns, restarts from its compacted ledger, and citizens read the whole law."""
    server = fakeredis.FakeServer()
    rules = replace(Settings().rules, law_memory=40)
    p = InProcessParliament(lambda: fakeredis.FakeRedis(server=server), tmp_path,
                            rules=rules).start()
    p.server = server
    try:
        c = client(p)
        first = c.petition(b"start")
        wait_until(lambda: p.president() is not None)
        away = next(s for s in p.workers if s != p.president())
        p.stop_priest(away)
        numbers = c.petition_many([f"d{i}" for i in range(600)], timeout=60)
        top = max(numbers)
        chosen = p.president()
        assert chosen is not None
        president = p.workers[chosen]
        wait_until(lambda: president.priest.law.floor > first + 100)  # archived, not in memory
        worker = p.start_priest(away)
        wait_until(lambda: worker.priest.law.known > top, timeout=30)
        # laws() reads live workers from this thread; a compaction in between can cut a read
        # short, so compare until two consistent reads agree (or time out and fail)
        wait_until(lambda: (got := p.laws())[away][: top + 1] == got[chosen][: top + 1])
        laws = p.laws()
        wait_until(lambda: worker.ledger.archive.end > top - 40    # it compacts as it learns
                   and worker.priest.law.floor > top - 100)
        assert len(worker.priest.law.decrees) <= 40 + 20 + rules.window
        assert worker.ledger.size < 100_000
        law = c.law(linearizable=True)
        assert [body for n, body in law if n >= min(numbers)][:600] == [
            f"d{i}".encode() for i in range(600)]
        p.stop_priest(away)                     # a restart from the compacted ledger
        again = p.start_priest(away)
        assert again.priest.law.known > top
        assert [(e.n, e.decree) for e in again.priest.law.read(0, top + 1)] == \
            laws[chosen][: top + 1]
    finally:
        p.close()
