"""The package type-checks under ``mypy --strict`` and the tree passes ``ruff``: run as tests,
so CI keeps them true (versions pinned in pyproject's test extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_the_package_is_strictly_typed() -> None:
    done = run("mypy", "--strict", "--no-incremental", "paxos_redis")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_tree_is_ruff_clean() -> None:
    done = run("ruff", "check", "--no-cache", "paxos_redis", "tests", "benchmarks", "workers")
    assert done.returncode == 0, done.stdout + done.stderr
