"""Fault injection on real processes (see nemesis.py): 0 violations in every run.

Faults of processes, links, Redis and disks, and of membership: priests added, stopped for
good, replaced by new identities, and duplicates of running priests that must refuse to
start.  Default: 5 runs x 30 s of faults.  Soak: ``python -m pytest tests/faults/test_nemesis.py
--nemesis-runs 30 --nemesis-seconds 120``.  Each run prints its report line.
"""

from __future__ import annotations

import pytest
from nemesis import run

from tests.redis_server import redis_server_binary

pytestmark = pytest.mark.skipif(redis_server_binary() is None,
                                reason="redis-server is not on PATH: install Redis 7")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" in metafunc.fixturenames:
        first = metafunc.config.getoption("--nemesis-seed")
        runs = metafunc.config.getoption("--nemesis-runs")
        metafunc.parametrize("seed", range(first, first + runs))


def test_nemesis_run_keeps_the_law(seed: int, request: pytest.FixtureRequest,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    report = run(seed, request.config.getoption("--nemesis-seconds"))
    with capsys.disabled():
        print("\n" + report.line())
    assert report.verdict, "\n".join(report.verdict.problems)
    assert report.ops["ok"] > 0 and sum(report.faults.values()) > 0
