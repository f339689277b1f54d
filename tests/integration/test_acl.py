"""The least-privilege ACL user (``paxos-redis acl``) on a real redis-server.

The rule line comes from the CLI, as an operator would get it, and is applied with
the server's own ``ACL SETUSER``.  Then a god (founding, calling ballots, keeping the
roster), five priest processes (heartbeats, identity claims, stamps; one killed and
started again from its ledger), a sixth priest that only listens, citizens (blocking,
asyncio, an rq job and the CLI's ``status`` and ``members``) run as that user, and the
server's ``ACL LOG`` must stay empty: nothing they do is refused.  (The test's own
harness watches the roster as the default user.)  The same user is refused (NOPERM) on
another parliament's keys, on keys outside the prefix and on dangerous commands, and a wrong
password is one clear line from the CLI.

The server is started with ``--enable-debug-command yes`` so that DEBUG is stopped by
the ACL, not by Redis's own default.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from processes import REPO, Parliament, cli_command, wait_for
from redis_server import RedisServer, redis_server_binary

from paxos_redis.citizen.aio import AsyncClient
from paxos_redis.citizen.client import Client
from paxos_redis.messengers import acl
from paxos_redis.messengers.connection import connect
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.membership import name as hex_name

NAME = "senate"
USER = "senate-priests"
PASSWORD = "s3cret-Pass_w0rd"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAXOS_") and k != "REDIS_URL"}
    return subprocess.run([*cli_command(), *args], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def version(admin: redis.Redis) -> str:
    return str(admin.info("server")["redis_version"])


def user_url(server: RedisServer, password: str = PASSWORD) -> str:
    return f"redis://{USER}:{password}@{server.host}:{server.port}/0"


def denials(admin: redis.Redis) -> list[str]:
    return [f"{e['reason']} {e['object']} (user {e['username']}, {e['count']}x)"
            for e in admin.acl_log()]


# ------------------------------------------------------------------ no server needed

def test_the_key_pattern_covers_every_key_of_the_parliament_and_no_other() -> None:
    keys = Keys(NAME)
    pattern = next(rule[1:] for rule in acl.rules(NAME) if rule.startswith("~"))
    assert pattern == "paxos:{senate}:*"
    ours = [keys.inbox(1), keys.inbox(0xABCDEF012345), keys.petitions(),
            keys.replies("c-0af3:x"), keys.deadletter(), keys.stats(), keys.heartbeat(4),
            keys.roster(), keys.claim(2), keys.stamps(), keys.config(), keys.president(),
            keys.election()]
    assert all(fnmatch.fnmatchcase(key, pattern) for key in ours), ours
    others = [Keys("senate2").config(), Keys("senat").config(), "paxos:senate:config",
              "paxos:{senate}", "rq:queue:petitions", "plain"]
    assert not any(fnmatch.fnmatchcase(key, pattern) for key in others)


def test_rules_deny_everything_first_and_allow_only_the_listed_commands() -> None:
    rules = acl.rules(NAME)
    assert rules[:5] == ["reset", "on", "resetchannels", "~paxos:{senate}:*", "-@all"]
    assert rules[5:] == [f"+{c}" for c in acl.COMMANDS]
    assert "+client|setinfo" in rules
    assert "+client|setinfo" not in acl.rules(NAME, redis_version=(7, 0))
    assert not [r for r in rules if "@" in r and r != "-@all"], "no category is granted"


def test_cli_prints_the_password_only_as_its_sha256() -> None:
    done = cli("acl", "--parliament", NAME, "--user", USER, "--password-env", "PW",
               env={"PW": PASSWORD})
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    args = shlex.split(done.stdout)
    assert args[:5] == ["ACL", "SETUSER", USER, "reset", "on"]
    assert args[5] == "#" + hashlib.sha256(PASSWORD.encode()).hexdigest()

    bare = cli("acl", "--parliament", NAME)
    assert bare.returncode == 0 and "paxos-senate" in bare.stdout
    assert not [a for a in shlex.split(bare.stdout) if a[0] in ">#<"], "no password at all"
    assert "cannot log in" in bare.stderr

    missing = cli("acl", "--parliament", NAME, "--password-env", "NOT_SET_ANYWHERE")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "NOT_SET_ANYWHERE" in missing.stderr and "Traceback" not in missing.stderr


# ------------------------------------------------------------------ on a real server

@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not on PATH: install Redis 7 to run real-server tests")
    with RedisServer(tmp_path / "redis", args=("--enable-debug-command", "yes")) as started:
        yield started


@pytest.fixture
def admin(server: RedisServer) -> redis.Redis:
    """The default user (every right), with the parliament's user made from the CLI's line."""
    client = server.client()
    done = cli("acl", "--parliament", NAME, "--user", USER, "--password-env", "PW",
               "--redis-version", version(client), env={"PW": PASSWORD})
    assert done.returncode == 0, done.stderr
    assert client.execute_command(*shlex.split(done.stdout)) in (b"OK", "OK", True)
    client.execute_command("ACL", "LOG", "RESET")
    return client



@pytest.mark.redis
def test_a_parliament_runs_as_the_acl_user_and_nothing_is_refused(
        server: RedisServer, admin: redis.Redis, tmp_path: Path) -> None:
    url = user_url(server)
    chamber = Parliament(url, tmp_path / "p", priests=5, name=NAME)
    chamber.redis.close()
    chamber.redis = server.client()     # the harness looks as the default user; the processes
    try:                                # and citizens below run as the parliament's user
        chamber.start()
        with Client.from_url(url, parliament=NAME) as citizen:
            numbers = [citizen.petition(f"acl-{k}", timeout=20, pid=f"acl-{k}")
                       for k in range(5)]
            numbers += citizen.petition_many(["acl-many-0", "acl-many-1"], timeout=20)

            async def one_async() -> int:
                async with AsyncClient.from_url(url, NAME) as aio:
                    return await aio.petition("acl-async", timeout=20, pid="acl-async")
            numbers.append(asyncio.run(one_async()))

            # an rq job passes a decree as the parliament's user; rq's worker keeps its own
            # (wider) connection: workers/petitions.py's RQ_REDIS_URL vs the jobs' REDIS_URL
            from rq import Queue
            job = Queue("acl-test", connection=server.client()).enqueue(
                "paxos_redis.citizen.jobs.pass_decree", "acl-rq", timeout=60)
            rq_worker = subprocess.Popen(
                [sys.executable, str(REPO / "workers" / "petitions.py")],
                env={**chamber.env(), "PYTHONPATH": str(REPO), "RQ_REDIS_URL": server.url,
                     "REDIS_URL": url, "PAXOS_QUEUE": "acl-test"},
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                wait_for(lambda: job.refresh() or job.get_status() in ("finished", "failed"),
                         60, "the rq job")
            finally:
                rq_worker.terminate()
                _, err = rq_worker.communicate(timeout=30)
            assert job.get_status() == "finished", (job.latest_result(), err.decode()[-2000:])
            numbers.append(job.return_value())

            # a junk entry in a priest's inbox is dead-lettered and counted
            keys = Keys(NAME)
            citizen.redis.xadd(keys.inbox(next(iter(chamber.priests))), {b"junk": b"1"})
            wait_for(lambda: admin.hget(keys.stats(), "deadletter"), 15, "the dead letter")

            law = dict(citizen.law(linearizable=True, timeout=20))
        assert len(set(numbers)) == len(numbers) == 9
        expected = [f"acl-{k}" for k in range(5)] + ["acl-many-0", "acl-many-1", "acl-async",
                                                      "acl-rq"]
        assert [law[n].decode() for n in numbers] == expected

        status = cli("status", "--redis", url, "--parliament", NAME)
        assert status.returncode == 0, status.stderr
        assert status.stdout.count(" yes ") >= 5, status.stdout

        # kill -9 of the president: a new one takes over (election lock, reclaim) as the user
        old = chamber.current_president()
        assert old is not None
        victim = chamber.priests[old]
        chamber.kill(old)
        chamber.president(20, exclude_pid=victim.pid)
        chamber.restart(old)                    # its claim and stamp, read back as the user
        with Client.from_url(url, parliament=NAME) as citizen:
            after = citizen.petition("acl-after", timeout=20, pid="acl-after")
            assert after > max(numbers)
        listener = chamber.wait_beating(chamber.start_priest())    # a sixth: it only learns
        wait_for(lambda: chamber.known().get(listener, 0) > after, 30, "the listener to learn",
                 explain=chamber.explain)
        members = cli("members", "--redis", url, "--parliament", NAME)
        assert members.returncode == 0, members.stderr
        lines = members.stdout.splitlines()
        assert len(lines) == 6 and sum(" voter " in line for line in lines) == 5, lines
        assert any(line.startswith(f"{hex_name(listener)} listener") for line in lines), lines
        codes = chamber.stop_all()
        assert all(code == 0 for code in codes.values()), (codes, chamber.explain())
    finally:
        chamber.close()
    assert denials(admin) == [], "the parliament's user was refused something it needs"


@pytest.mark.redis
def test_the_user_is_refused_other_keys_and_dangerous_commands(
        server: RedisServer, admin: redis.Redis) -> None:
    other = Keys("house")
    admin.hset(other.config(), "genesis", "g3")
    admin.set("plain", "untouched")
    user = connect(user_url(server), retries=0)
    try:
        ours = Keys(NAME)
        user.hset(ours.config(), "genesis", "g5")            # its own keys: allowed
        assert user.hget(ours.config(), "genesis") == b"g5"
        refused_keys = [
            lambda: user.hget(other.config(), "genesis"),
            lambda: user.xadd(other.petitions(), {b"p": b"1"}),
            lambda: user.delete(other.config()),
            lambda: user.set("plain", "overwritten"),
            lambda: user.get("plain"),
            lambda: user.zadd(other.roster(), {"000000000001": 1}),
            lambda: user.hget("paxos:senate:config", "genesis"),     # no hash tag: not ours
            lambda: user.xadd("paxos:{senate2}:petitions", {b"p": b"1"}),
        ]
        refused_commands = [
            ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "save", ""),
            ("KEYS", "*"), ("SCAN", "0"), ("DEBUG", "SLEEP", "0"), ("SHUTDOWN",),
            ("ACL", "SETUSER", USER, "+@all"), ("ACL", "LIST"), ("EVAL", "return 1", "0"),
            ("HDEL", ours.config(), "founding"), ("ZREM", ours.roster(), "000000000001"),
            ("RENAME", ours.config(), ours.stats()), ("PUBLISH", "x", "y"), ("SUBSCRIBE", "x"),
            ("MONITOR",), ("CLIENT", "KILL", "TYPE", "normal"), ("MODULE", "LIST"),
        ]
        for attempt in refused_keys:
            with pytest.raises(redis.exceptions.NoPermissionError, match="permissions to access"):
                attempt()
        for command in refused_commands:
            with pytest.raises(redis.exceptions.NoPermissionError, match="permissions to run"):
                user.execute_command(*command)
    finally:
        user.close()
    assert admin.get("plain") == b"untouched"
    assert admin.hget(other.config(), "genesis") == b"g3"
    assert admin.ping() and admin.dbsize() == 3              # nothing flushed
    reasons = {(e["reason"], e["object"]) for e in admin.acl_log(count=128)}
    assert ("key", other.config()) in reasons and ("key", "plain") in reasons
    assert {("command", "flushall"), ("command", "debug"), ("command", "keys"),
            ("command", "config|get")} <= reasons


@pytest.mark.redis
def test_a_wrong_password_is_one_line_without_the_password(
        server: RedisServer, admin: redis.Redis, tmp_path: Path) -> None:
    wrong = "not-the-Password-9"
    url = user_url(server, wrong)
    for args in (["status"], ["members"], ["priest", "--ledger-dir", str(tmp_path)]):
        began = time.monotonic()
        done = cli(*args, "--redis", url, "--parliament", NAME)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith("paxos-redis: error: Redis at "), lines[0]
        assert "refused the credentials" in lines[0], lines[0]
        assert f"redis://{USER}:***@" in lines[0] and wrong not in done.stderr + done.stdout
        assert time.monotonic() - began < 20
    assert not list(tmp_path.glob("*.ledger")), "no ledger made without Redis"
