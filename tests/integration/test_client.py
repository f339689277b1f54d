"""The citizens' side of the protocol: Client, errors and rq jobs, on fakeredis and real Redis.

The priests are not here: :class:`PresidentDouble` is a TEST DOUBLE that plays the
acting president and the priests' law answers *honestly but minimally*, following
the wire protocol of ``paxos_redis/messengers/citizens.py``.  It runs no ballots and keeps no
ledger; tests against real priest workers live elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from redis_server import RedisServer

from paxos_redis.citizen.client import Client
from paxos_redis.errors import (
    DecreeTooLarge,
    ParliamentUnavailable,
    PetitionRefused,
    PetitionTimeout,
)
from paxos_redis.messengers.citizens import (
    LawAnswer,
    LawQuery,
    PetitionEntry,
    Reply,
    batch_replies,
    role_of,
)
from paxos_redis.messengers.connection import connect
from paxos_redis.messengers.heartbeat import Beat, beat_commands
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol import Ballot, Receipt
from paxos_redis.protocol.decree import INTERNAL, OLIVE_DAY, Decree
from paxos_redis.protocol.membership import parse_name

KEYS = Keys("senate")
#: the double's three members (identities); the first presides
PRIESTS = (0xA1, 0xB2, 0xC3)
A, B, C = PRIESTS
REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ the test double

class PresidentDouble:
    """TEST DOUBLE of the acting president and of the priests' law answers.

    Citizen-side protocol only: reads the petitions stream, numbers each new
    petition id (a retried id is passed again, as the real parliament may, but
    answered with the number of its FIRST passing), and answers law queries on
    every live priest's inbox in chunks of ``chunk``, leaving out olive-day decrees,
    internal no-ops and later copies of a petition.  Knobs: ``drop_first`` (lose
    the first copy of these pids), ``refuse`` (pid -> error), ``lag`` (priest ->
    decrees it has not learned yet), ``dead`` (priests that never answer and have
    no heartbeat), ``silent`` (no president: petitions are ignored), ``receipts`` (how
    many members send the citizen a receipt of their vote) and ``reply`` (False: the
    president's own answer never comes).
    """

    def __init__(self, redis: Any, keys: Keys = KEYS, *, priests: tuple[int, ...] = PRIESTS,
                 chunk: int = 4) -> None:
        self.redis, self.keys, self.priests, self.chunk = redis, keys, priests, chunk
        self.law: list[Decree] = []
        self.first: dict[str, int] = {}
        self.drop_first: set[str] = set()
        self.dropped: list[str] = []
        self.refuse: dict[str, str] = {}
        self.lag: dict[int, int] = {}
        self.dead: set[int] = set()
        self.silent = False
        self.receipts, self.reply = 0, True
        self.queries: list[tuple[int, LawQuery]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="president-double", daemon=True)
        self._ids: dict[str, Any] = {keys.petitions(): "0-0"}
        self._ids.update({keys.inbox(p): "0-0" for p in priests})

    def start(self) -> PresidentDouble:
        """Heartbeats as founded voters write them (the first priest presides), in the roster."""
        for priest in self.priests:
            if priest not in self.dead:
                beat = Beat(priest, self.keys.parliament, "voter", priest == self.priests[0],
                            "1." + str(self.priests[0]), genesis="g1", members=self.priests)
                for command in beat_commands(self.keys, beat, 60_000):
                    self.redis.execute_command(*command)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            reply = self.redis.xread(dict(self._ids), count=500, block=50)
            for stream, entries in reply or []:
                name = stream.decode()
                out: list[tuple[str, dict[bytes, bytes]]] = []
                for entry_id, fields in entries:
                    self._ids[name] = entry_id
                    if name == self.keys.petitions():
                        for petition in PetitionEntry.parse_many(fields):
                            out += self._petition(petition)
                    elif role_of(fields) == b"citizen":
                        out += self._query(parse_name(name.rsplit(":", 1)[1]),
                                           LawQuery.parse(fields))
                pipe = self.redis.pipeline(transaction=False)
                for key, answer in out:
                    pipe.xadd(key, answer)
                    pipe.expire(key, 300)
                pipe.execute()

    def _petition(self, entry: PetitionEntry) -> list[tuple[str, dict[bytes, bytes]]]:
        pid = entry.decree.petition
        if self.silent:
            return []
        if pid in self.drop_first and pid not in self.dropped:
            self.dropped.append(pid)
            return []
        if pid in self.refuse:
            return [(self.keys.replies(entry.reply), Reply(pid, error=self.refuse[pid]).fields())]
        if len(self.law) % 3 == 2:
            self.law.append(OLIVE_DAY)         # a gap filled by the olive-day decree
        self.first.setdefault(pid, len(self.law))
        self.law.append(entry.decree)          # a retried pid passes again: a later copy
        stream = self.keys.replies(entry.reply)
        ballot = Ballot(1, self.priests[0])
        out = batch_replies([(stream, Receipt(entry.reply, priest, len(self.priests), ballot,
                                              self.first[pid], pid))
                             for priest in self.priests[: self.receipts]])
        if self.reply:
            out.append((stream, Reply(pid, n=self.first[pid]).fields()))
        return out

    def _query(self, priest: int, q: LawQuery) -> list[tuple[str, dict[bytes, bytes]]]:
        if priest in self.dead:
            return []
        self.queries.append((priest, q))
        known = max(0, len(self.law) - self.lag.get(priest, 0))
        upto = max(q.start, min(q.stop, known, q.start + self.chunk))
        entries = tuple((n, self.law[n]) for n in range(q.start, upto)
                        if self.law[n].petition and not self.law[n].petition.startswith(INTERNAL)
                        and self.first[self.law[n].petition] == n)
        answer = LawAnswer(q.req, priest, known, upto, entries)
        return [(self.keys.replies(q.reply), answer.fields())]

    def passed(self) -> list[tuple[int, bytes]]:
        """What ``law()`` should return: first copies of citizens' petitions."""
        return [(n, d.body) for n, d in enumerate(self.law)
                if d.petition and not d.petition.startswith(INTERNAL)
                and self.first[d.petition] == n]


# ------------------------------------------------------------------ fixtures

Connect = Callable[[], Any]


@pytest.fixture(params=["fakeredis", pytest.param("real", marks=pytest.mark.redis)])
def connect_to(request: pytest.FixtureRequest) -> Iterator[Connect]:
    """A factory of connections to ONE Redis (fakeredis server or our own redis-server)."""
    made: list[Any] = []
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()

        def make() -> Any:
            made.append(fakeredis.FakeRedis(server=server))
            return made[-1]
    else:
        real: RedisServer = request.getfixturevalue("redis_server")

        def make() -> Any:
            made.append(connect(real.url))
            return made[-1]
    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def president(connect_to: Connect) -> Iterator[PresidentDouble]:
    double = PresidentDouble(connect_to())
    yield double
    double.stop()


@pytest.fixture
def client(connect_to: Connect) -> Iterator[Client]:
    with Client(connect_to(), "senate", retry=0.2) as c:
        yield c


def pids_sent(redis: Any) -> list[str]:
    return [p.decree.petition for _, f in redis.xrange(KEYS.petitions())
            for p in PetitionEntry.parse_many(f)]


# ------------------------------------------------------------------ petitions

def test_petition_returns_the_decree_number(president: PresidentDouble, client: Client) -> None:
    president.start()
    first = client.petition(b"tax the olive oil")
    second = client.petition(b"repair the temple")
    assert first == 0 and second > first
    assert client.law() == [(first, b"tax the olive oil"), (second, b"repair the temple")]


def test_str_is_utf8_and_bytes_are_passed_as_they_are(president: PresidentDouble,
                                                       client: Client) -> None:
    president.start()
    n_text = client.petition("décret über ὄλιβος")
    n_raw = client.petition(b"\x00\xff\x80 not utf-8")
    law = dict(client.law())
    assert law[n_text] == "décret über ὄλιβος".encode()
    assert law[n_raw] == b"\x00\xff\x80 not utf-8"


def test_receipts_from_a_majority_answer_without_the_presidents_reply(
        president: PresidentDouble, client: Client) -> None:
    president.receipts, president.reply = 2, False        # 2 of 3 members
    president.start()
    assert client.petition(b"a") == 0
    assert client.petition(b"b") == 1


def test_receipts_from_a_minority_do_not_answer(president: PresidentDouble,
                                                client: Client) -> None:
    president.receipts, president.reply = 1, False
    president.start()
    with pytest.raises(PetitionTimeout):
        client.petition(b"a", timeout=0.5)


def test_a_retried_pid_gets_the_number_of_its_first_passing(president: PresidentDouble,
                                                            client: Client) -> None:
    president.start()
    n = client.petition(b"once", pid="p-once")
    other = client.petition(b"another")
    assert client.petition(b"once", pid="p-once") == n != other
    assert president.law.count(Decree("p-once", b"once")) == 2     # passed twice...
    assert [body for _, body in client.law()] == [b"once", b"another"]   # ...in the law once


def test_a_lost_petition_is_sent_again_and_passes(president: PresidentDouble,
                                                  client: Client) -> None:
    president.drop_first.add("p-lost")
    president.start()
    started = time.monotonic()
    n = client.petition(b"lost once", pid="p-lost", timeout=5)
    assert president.dropped == ["p-lost"]
    assert pids_sent(client.redis).count("p-lost") >= 2
    assert president.first["p-lost"] == n
    assert time.monotonic() - started >= 0.2          # waited one retry interval


def test_timeout_names_the_pid_and_the_timeout(president: PresidentDouble,
                                               client: Client) -> None:
    president.silent = True
    president.dead = set(PRIESTS)                      # and no heartbeats at all
    president.start()
    started = time.monotonic()
    with pytest.raises(PetitionTimeout) as caught:
        client.petition(b"nobody listens", timeout=0.5, pid="p-slow")
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.0
    assert caught.value.pid == "p-slow" and caught.value.timeout == 0.5
    message = str(caught.value)
    assert "'p-slow'" in message and "0.5 s" in message and "heartbeat" in message
    assert pids_sent(client.redis).count("p-slow") >= 2        # it kept retrying


def test_a_refused_petition_raises_with_the_reason(president: PresidentDouble,
                                                   client: Client) -> None:
    president.refuse["p-bad"] = "decree body is not valid JSON"
    president.start()
    with pytest.raises(PetitionRefused, match="not valid JSON") as caught:
        client.petition(b"{", pid="p-bad")
    assert caught.value.pid == "p-bad"


def test_an_oversize_decree_is_refused_before_anything_is_sent(connect_to: Connect) -> None:
    redis = connect_to()
    with Client(redis, "senate", max_decree_bytes=8) as small:
        with pytest.raises(DecreeTooLarge, match="9 bytes exceeds the limit of 8") as caught:
            small.petition(b"123456789")
        assert (caught.value.size, caught.value.limit) == (9, 8)
        with pytest.raises(DecreeTooLarge):
            small.petition("ééééé")                     # 5 characters, 10 bytes
        with pytest.raises(DecreeTooLarge):
            small.petition_many([b"fine", b"also fine", b"x" * 9])
        assert redis.exists(KEYS.petitions()) == 0


def test_bad_arguments_are_refused_with_the_value(client: Client) -> None:
    with pytest.raises(ValueError, match="reserved"):
        client.petition(b"x", pid=INTERNAL + "mine")
    with pytest.raises(TypeError, match="bytes or str"):
        client.petition(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be > 0"):
        client.petition(b"x", timeout=0)
    assert client.redis.exists(KEYS.petitions()) == 0


def test_petition_many_sends_all_at_once(president: PresidentDouble, client: Client) -> None:
    president.start()
    bodies = [f"decree {i}".encode() for i in range(200)]
    numbers = client.petition_many(bodies)
    assert len(set(numbers)) == 200
    assert client.law() == sorted(zip(numbers, bodies, strict=True))
    assert client.petition_many([]) == []


def test_junk_on_the_reply_stream_is_ignored(president: PresidentDouble, client: Client) -> None:
    client.redis.xadd(client.reply_stream, {b"nonsense": b"1"})
    client.redis.xadd(client.reply_stream, {b"pid": b"p-x", b"n": b"minus one"})
    president.start()
    assert client.petition(b"still works") == 0


def test_twenty_threads_share_one_client(president: PresidentDouble, client: Client) -> None:
    president.start()
    results: dict[int, list[tuple[int, bytes]]] = {}
    errors: list[BaseException] = []

    def citizen(i: int) -> None:
        try:
            bodies = [f"thread {i} decree {k}".encode() for k in range(5)]
            results[i] = [(client.petition(b, timeout=10), b) for b in bodies]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=citizen, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    mine = [pair for pairs in results.values() for pair in pairs]
    assert len(mine) == 100 and len({n for n, _ in mine}) == 100
    assert sorted(mine) == client.law()


# ------------------------------------------------------------------ the law

def test_law_merges_chunked_answers_and_takes_the_furthest(president: PresidentDouble,
                                                           client: Client) -> None:
    president.chunk = 3
    president.lag = {A: 6, C: 2}                       # B knows the most
    president.start()
    numbers = client.petition_many([f"d{i}".encode() for i in range(10)])
    client.petition(b"d0", pid=president.law[numbers[0]].petition)   # a later copy
    rounds = len(president.queries)
    law = client.law()
    assert law == president.passed() == [(n, f"d{i}".encode()) for i, n in enumerate(numbers)]
    assert len(president.queries) - rounds >= 3 * 4    # several chunks, each to 3 priests
    assert client.law(numbers[3], numbers[7]) == law[3:7]
    assert client.law(numbers[9] + 1, numbers[9] + 1) == []


def test_law_asks_only_priests_with_a_heartbeat(president: PresidentDouble,
                                                client: Client) -> None:
    president.dead = {C}
    president.start()
    n = client.petition(b"x")
    assert client.law() == [(n, b"x")]
    assert client.redis.xlen(KEYS.inbox(A)) >= 1
    assert client.redis.exists(KEYS.inbox(C)) == 0


def test_a_linearizable_read_waits_for_the_sync_barrier(president: PresidentDouble,
                                                        client: Client) -> None:
    president.start()
    numbers = client.petition_many([b"a", b"b", b"c"])
    president.lag = dict.fromkeys(PRIESTS, 3)           # nobody has learned the last three
    assert client.law() == [(numbers[0], b"a")]           # a stale read
    timer = threading.Timer(0.3, president.lag.clear)     # the priests catch up
    timer.start()
    try:
        fresh = client.law(linearizable=True, timeout=5)
    finally:
        timer.join()
    assert fresh == list(zip(numbers, [b"a", b"b", b"c"], strict=True))
    barrier = client.sync()
    assert barrier > numbers[-1]
    assert president.law[barrier].petition.startswith(INTERNAL + "sync:")
    assert client.law() == fresh                       # sync no-ops never show in the law


def test_law_without_answers_says_the_parliament_is_unavailable(president: PresidentDouble,
                                                                client: Client) -> None:
    president.start()
    president.dead = set(PRIESTS)                      # they beat, but never answer
    with pytest.raises(ParliamentUnavailable, match="no priest answered"):
        client.law(timeout=0.4)


def test_law_on_a_parliament_no_founded_priest_beats_for_says_so(connect_to: Connect) -> None:
    redis = connect_to()
    with Client(redis, "nowhere") as lost:
        with pytest.raises(ParliamentUnavailable, match="knows its founding"):
            lost.law(timeout=0.5)
        keys = Keys("nowhere")                 # a priest that beats but is not founded yet
        for command in beat_commands(keys, Beat(0xD4, "nowhere", "unfounded"), 60_000):
            redis.execute_command(*command)
        with pytest.raises(ParliamentUnavailable, match="knows its founding"):
            lost.law(timeout=0.5)
        assert redis.exists(keys.inbox(0xD4)) == 0     # nothing was asked of it


# ------------------------------------------------------------------ rq jobs

@pytest.mark.redis
def test_an_rq_worker_runs_pass_decree_and_read_law(redis_server: RedisServer) -> None:
    from rq import Queue

    rq_bin = shutil.which("rq", path=str(Path(sys.executable).parent)) or shutil.which("rq")
    assert rq_bin is not None, "rq is not installed in this environment"
    president = PresidentDouble(connect(redis_server.url)).start()
    queue = Queue("paxos-test", connection=connect(redis_server.url))
    try:
        passed = queue.enqueue("paxos_redis.citizen.jobs.pass_decree", "hello from rq")
        read = queue.enqueue("paxos_redis.citizen.jobs.read_law", 0)
        env = {**os.environ, "PYTHONPATH": str(REPO), "REDIS_URL": redis_server.url,
               "PAXOS_PARLIAMENT": "senate"}
        done = subprocess.run([rq_bin, "worker", "--burst", "--url", redis_server.url,
                               "paxos-test"], env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        passed.refresh()
        read.refresh()
        assert passed.get_status() == "finished", passed.latest_result()
        n = passed.return_value()
        assert n == president.first[f"rq:{passed.id}"]    # the job id is the pid
        assert read.return_value() == [(n, b"hello from rq")]
    finally:
        president.stop()


def test_jobs_read_parliament_and_url_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from paxos_redis.citizen import jobs
    seen: list[tuple[str, str]] = []

    class Recorder(Client):
        @classmethod
        def from_url(cls, url: str, parliament: str = "default", **kw: Any) -> Client:
            seen.append((url, parliament))
            return Client(fakeredis.FakeRedis(), parliament)

    monkeypatch.setattr(jobs, "Client", Recorder)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("PAXOS_PARLIAMENT", "senate")
    with pytest.raises(PetitionTimeout):
        jobs.pass_decree(b"x", timeout=0.2)
    with pytest.raises(ParliamentUnavailable):
        jobs.read_law(timeout=0.2, redis_url="redis://elsewhere:6380/1", parliament="assembly")
    assert seen == [("redis://127.0.0.1:6379/0", "senate"),
                    ("redis://elsewhere:6380/1", "assembly")]
