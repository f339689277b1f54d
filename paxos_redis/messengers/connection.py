"""Connecting to the messengers' Redis, and riding out its outages.

Nothing here is module-level state: :func:`connect` builds a client that the
caller passes to whatever needs it (the messenger, the god, the citizens' API).

Timeouts, and how they relate
-----------------------------
* ``socket_connect_timeout`` (default 2 s): a Redis that does not accept a
  connection within 2 s is treated as down; the caller backs off and retries.
* ``socket_timeout`` (default 5 s) bounds every reply.  A blocking
  ``XREADGROUP ... BLOCK block_ms`` legitimately keeps the socket silent for
  ``block_ms``, so **socket_timeout must exceed the longest block plus a round
  trip**: ``block_ms / 1000 + BLOCK_MARGIN <= socket_timeout``.  The messenger
  refuses a ``block_ms`` that breaks this (see :data:`MAX_BLOCK_MS` for the
  default).  A short block (≤ 2 s) also keeps the worker loop responsive to
  ticks, heartbeats and SIGTERM.
* ``health_check_interval`` (default 10 s): a connection idle that long is PINGed
  before use, so a Redis restart is noticed on a cheap command.
* redis-py's own :class:`~redis.retry.Retry` (exponential backoff, capped at
  0.5 s, 3 retries) absorbs a blip such as a pooled connection closed by a
  restart.  It may resend a command whose reply was lost, so an ``XADD`` can be
  duplicated: the Parliament tolerates duplicate messages by design.  Longer
  outages surface as :class:`redis.exceptions.ConnectionError` /
  :class:`~redis.exceptions.TimeoutError`: the priest's and god's loops wait them out
  with one log line per outage.
"""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_HEALTH_CHECK_INTERVAL = 10
#: Seconds a blocking read must leave between its BLOCK and the socket timeout.
BLOCK_MARGIN = 1.0
#: The longest ``block_ms`` the default socket timeout allows.
MAX_BLOCK_MS = int((DEFAULT_SOCKET_TIMEOUT - BLOCK_MARGIN) * 1000)

_SCHEMES = ("redis", "rediss", "unix")
#: Errors that mean "Redis is unreachable right now": worth waiting for.
TRANSIENT: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
#: ConnectionError subclasses that are misconfiguration, not outages: never retried.
PERMANENT: tuple[type[Exception], ...] = (AuthenticationError, AuthorizationError)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to log).

    A password given as a query parameter (``?password=...``, ``?ssl_password=...``,
    which redis-py's ``from_url`` also accepts) is replaced too.
    """
    base, mark, query = url.partition("?")
    if mark:
        query, hash_, fragment = query.partition("#")
        query = "&".join(_redact_param(param) for param in query.split("&")) + hash_ + fragment
    try:
        parts = urlsplit(base)
        if parts.password is None:
            return base + mark + query
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<unparseable redis url>"
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment)) + mark + query


def _redact_param(param: str) -> str:
    name, sep, _ = param.partition("=")
    return f"{name}=***" if sep and "password" in name.lower() else param


def connect(
    url: str,
    *,
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
    socket_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    health_check_interval: int = DEFAULT_HEALTH_CHECK_INTERVAL,
    retries: int = 3,
    client_name: str | None = None,
) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` (TLS) or ``unix://`` URLs.

    User and password come from the URL (``redis://user:secret@host:6379/0``).
    Nothing is sent until the first command; use :func:`check` to fail fast on a
    wrong password.  Replies are bytes (``decode_responses=False``) and RESP2 is
    pinned, so reply shapes are the same across redis-py versions and fakeredis.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise ValueError(
            f"unsupported Redis URL {redact(url)!r}: expected redis://[user:password@]host[:port][/db],"
            " rediss://... for TLS, or unix:///path/to/redis.sock"
        )
    if socket_timeout <= 0 or socket_connect_timeout <= 0:
        raise ValueError(
            f"timeouts must be positive, got socket_timeout={socket_timeout!r}, "
            f"socket_connect_timeout={socket_connect_timeout!r}"
        )
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        protocol=2,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        health_check_interval=health_check_interval,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
        client_name=client_name,
    )


def check(client: redis.Redis, url: str) -> None:
    """PING once; a refused password or a TLS mismatch becomes an error that says what to fix.

    The first PING goes over a connection of its own that is not retried, so a TLS
    mismatch fails at once (the client's retries, per command and per connection,
    made it take seconds); any other failure is tried again the client's way, since
    Redis may only be starting."""
    try:
        try:
            _ping_once(client)
        except TRANSIENT as exc:
            if tls_hint(url, str(exc)) is not None:
                raise
            client.ping()
    except AuthenticationError as exc:
        raise AuthenticationError(
            f"Redis at {redact(url)} refused the credentials ({exc}); check the user and "
            "password in the URL (redis://user:password@host:port/db) against the "
            "server's requirepass / ACL"
        ) from exc
    except TRANSIENT as exc:
        hint = tls_hint(url, str(exc))
        if hint is None:
            raise
        raise type(exc)(f"{str(exc).rstrip('.')}; {hint}") from exc


def _ping_once(client: redis.Redis) -> None:
    """PING over a new connection with the client's settings and no retries."""
    pool = client.connection_pool
    probe = redis.ConnectionPool(connection_class=pool.connection_class,
                                 **{**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)})
    try:
        redis.Redis(connection_pool=probe).ping()
    finally:
        probe.disconnect()


def tls_hint(url: str, error: str) -> str | None:
    """What to fix when a connection failed for want of (the right) TLS, else None."""
    secure = url.lower().startswith("rediss://")
    text = error.lower()
    if secure and ("wrong version number" in text or "record layer" in text
                   or "timeout connecting" in text):
        return "if that port does not serve TLS, use a redis:// URL (or Redis's tls-port)"
    if secure and ("certificate" in text or "ssl" in text):
        return ("the server's TLS certificate was not accepted: name the CA that signed it, "
                "rediss://host:port/0?ssl_ca_certs=/path/to/ca.crt, and use a host name the "
                "certificate names")
    if not secure and url.lower().startswith("redis://") and (
            "reset by peer" in text or "closed by server" in text):
        return "if that port serves TLS (Redis's tls-port), use a rediss:// URL"
    return None
