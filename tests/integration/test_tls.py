"""TLS: a parliament over ``rediss://`` on a real redis-server that serves TLS only.

The server gets a throwaway CA and certificate from the ``openssl`` CLI
(:func:`redis_server.make_tls`) and listens on its TLS port alone (``--port 0``).  The
URL names the CA as redis-py's ``from_url`` reads it: ``rediss://host:port/0?ssl_ca_certs=
/path/ca.crt``.  A wrong CA, or a plain ``redis://`` URL against the TLS port, fails within
seconds with one line that says what to fix.  A ``redis-server`` built without TLS (or no
``openssl``) skips these tests with the reason.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from processes import Parliament, cli_command
from redis_server import RedisServer, TlsUnsupported, make_ca, redis_server_binary

from paxos_redis.citizen.aio import AsyncClient
from paxos_redis.citizen.client import Client
from paxos_redis.messengers.connection import check, connect, redact, tls_hint

pytestmark = pytest.mark.redis

NAME = "tls"


def start_tls(directory: Path, **options: str) -> RedisServer:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not on PATH: install Redis 7 to run real-server tests")
    try:
        return RedisServer(directory, tls=True, **options).start()  # type: ignore[arg-type]
    except TlsUnsupported as exc:
        pytest.skip(f"no TLS here: {exc}")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_tls(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAXOS_") and k != "REDIS_URL"}
    return subprocess.run([*cli_command(), *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("paxos-redis: error: ") and "Traceback" not in done.stderr
    return lines[0]


def test_a_parliament_passes_decrees_over_tls(tls_server: RedisServer, tmp_path: Path) -> None:
    url = tls_server.url + "&ssl_cert_reqs=required"
    assert url.startswith("rediss://") and "ssl_ca_certs=" in url
    chamber = Parliament(url, tmp_path / "p", priests=3, name=NAME)
    try:
        chamber.start()
        with Client.from_url(url, parliament=NAME) as citizen:
            numbers = [citizen.petition(f"tls-{k}", timeout=20, pid=f"tls-{k}") for k in range(5)]

            async def one_async() -> int:
                async with AsyncClient.from_url(url, NAME) as aio:
                    return await aio.petition("tls-async", timeout=20, pid="tls-async")
            numbers.append(asyncio.run(one_async()))
            law = dict(citizen.law(linearizable=True, timeout=20))
        assert [law[n] for n in numbers] == [f"tls-{k}".encode() for k in range(5)] + [b"tls-async"]
        status = cli("status", "--redis", url, "--parliament", NAME)
        assert status.returncode == 0 and status.stdout.count(" yes ") >= 3, status
        assert "3 voters (3 alive)" in status.stdout, status.stdout
        codes = chamber.stop_all()
        assert all(code == 0 for code in codes.values()), (codes, chamber.explain())
    finally:
        chamber.close()
    # ... and the server had no plain-text port to offer them
    plain = redis.Redis(host=tls_server.host, port=tls_server.port, socket_timeout=2,
                        socket_connect_timeout=2, retry_on_error=[], protocol=2)
    with pytest.raises(redis.exceptions.ConnectionError):
        plain.ping()
    plain.close()


def test_a_wrong_ca_fails_fast_with_one_line_naming_ssl_ca_certs(tls_server: RedisServer,
                                                                  tmp_path: Path) -> None:
    wrong_ca, _ = make_ca(tmp_path / "elsewhere", "wrong-ca")
    base = tls_server.url.split("?")[0]
    for url in (f"{base}?ssl_ca_certs={wrong_ca}", base):    # another CA; the system's CAs
        began = time.monotonic()
        line = one_line(cli("status", "--redis", url, "--parliament", NAME))
        assert time.monotonic() - began < 20
        assert "CERTIFICATE_VERIFY_FAILED" in line and "ssl_ca_certs=" in line, line
        assert redact(url) in line

    # the library: an error within the socket timeouts, never a hang
    client = connect(f"{base}?ssl_ca_certs={wrong_ca}", socket_timeout=2, socket_connect_timeout=2)
    began = time.monotonic()
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate"):
        check(client, base)
    assert time.monotonic() - began < 15
    client.close()


def test_plain_redis_against_the_tls_port_fails_fast_suggesting_rediss(
        tls_server: RedisServer) -> None:
    url = f"redis://{tls_server.host}:{tls_server.port}/0"
    began = time.monotonic()
    line = one_line(cli("status", "--redis", url, "--parliament", NAME))
    assert time.monotonic() - began < 20
    assert url in line and "use a rediss:// URL" in line, line


def test_ssl_cert_reqs_none_skips_verification(tls_server: RedisServer) -> None:
    """Insecure, but it shows that query parameters reach redis-py's SSL connection."""
    client = connect(tls_server.url.split("?")[0] + "?ssl_cert_reqs=none")
    try:
        assert client.ping()
    finally:
        client.close()


def test_mutual_tls_needs_the_client_certificate(tmp_path: Path) -> None:
    server = start_tls(tmp_path / "redis", tls_auth_clients="yes")
    try:
        assert "ssl_certfile=" in server.url and "ssl_keyfile=" in server.url
        with_cert = connect(server.url)
        assert with_cert.ping()
        with_cert.close()
        only_ca = server.url.split("&")[0]                    # rediss://...?ssl_ca_certs=...
        without = connect(only_ca, socket_timeout=2, socket_connect_timeout=2, retries=0)
        began = time.monotonic()
        with pytest.raises(redis.exceptions.ConnectionError):
            without.ping()
        assert time.monotonic() - began < 15
        without.close()
    finally:
        server.stop()


def test_redact_hides_passwords_in_tls_urls_and_keeps_the_rest() -> None:
    url = "rediss://alice:s3cret@db:6380/0?ssl_ca_certs=/etc/ca.crt&ssl_password=k3y&ssl_cert_reqs=required"
    assert redact(url) == ("rediss://alice:***@db:6380/0?ssl_ca_certs=/etc/ca.crt"
                           "&ssl_password=***&ssl_cert_reqs=required")
    assert redact("rediss://db:6380/0?password=s3cret") == "rediss://db:6380/0?password=***"


@pytest.mark.parametrize(("url", "error", "says"), [
    ("rediss://h:1/0", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "ssl_ca_certs="),
    ("rediss://h:1/0", "[SSL: WRONG_VERSION_NUMBER] wrong version number", "use a redis:// URL"),
    ("rediss://h:1/0", "Timeout connecting to server", "use a redis:// URL"),
    ("redis://h:1/0", "Error while reading from h:1 : (104, 'Connection reset by peer')",
     "use a rediss:// URL"),
    ("redis://h:1/0", "Connection closed by server.", "use a rediss:// URL"),
    ("redis://h:1/0", "Error 111 connecting to h:1. Connection refused.", None),
    ("unix:///run/redis.sock", "Connection reset by peer", None),
])
def test_tls_hints_name_the_likely_fix(url: str, error: str, says: str | None) -> None:
    hint = tls_hint(url, error)
    assert (hint is None) if says is None else (hint is not None and says in hint), hint
