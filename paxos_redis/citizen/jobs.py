"""rq jobs: pass a decree or read the law from a queue worker.

Enqueue them by import path, e.g.::

    Queue("paxos", connection=redis).enqueue("paxos_redis.citizen.jobs.pass_decree", b"payload")

and run ``rq worker paxos`` where ``paxos_redis`` is importable.  The parliament
comes from ``parliament=`` or the environment variable ``PAXOS_PARLIAMENT``
(default ``"default"``); the Redis of the parliament's messengers from
``redis_url=`` or ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), which may
differ from the Redis rq itself uses.

A job run by rq petitions with the pid ``rq:<job id>``, so a job that rq runs
again (a retry after a crashed work-horse, ``Retry(...)``) passes its decree at
most once and returns the same decree number.
"""

from __future__ import annotations

import os

from paxos_redis.citizen.client import Client

DEFAULT_PARLIAMENT = "default"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
ENV_PARLIAMENT = "PAXOS_PARLIAMENT"
ENV_REDIS_URL = "REDIS_URL"


def _client(parliament: str | None, redis_url: str | None) -> Client:
    return Client.from_url(
        redis_url or os.environ.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL,
        parliament or os.environ.get(ENV_PARLIAMENT) or DEFAULT_PARLIAMENT,
    )


def _job_pid() -> str | None:
    """``rq:<job id>`` inside an rq worker, else None (a fresh pid)."""
    try:
        from rq import get_current_job
    except ImportError:     # rq not installed: not running under rq either
        return None
    job = get_current_job()
    return f"rq:{job.id}" if job is not None else None


def pass_decree(decree: str | bytes, *, parliament: str | None = None,
                redis_url: str | None = None, timeout: float = 10.0,
                pid: str | None = None) -> int:
    """Petition ``decree`` and return the decree number it passed at.

    ``pid`` defaults to ``rq:<job id>`` under rq (idempotent across job retries).
    Raises :class:`paxos_redis.errors.PetitionTimeout` etc., which rq records as
    the job's failure.
    """
    with _client(parliament, redis_url) as client:
        return client.petition(decree, timeout, pid=pid if pid is not None else _job_pid())


def read_law(start: int = 0, stop: int | None = None, *, linearizable: bool = False,
             parliament: str | None = None, redis_url: str | None = None,
             timeout: float = 10.0) -> list[tuple[int, bytes]]:
    """The passed decrees ``start <= n < stop`` as ``[(n, body)]`` (see :meth:`Client.law`)."""
    with _client(parliament, redis_url) as client:
        return client.law(start, stop, linearizable=linearizable, timeout=timeout)
