"""The inbox fuzzer (fuzz_inbox.py) runs clean: every input taken, none crashes.

Default 3,000 inputs; more with ``--fuzz-runs N``.  Prints the fuzzer's totals line.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZER = Path(__file__).with_name("fuzz_inbox.py")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (pip install -e '.[test]' on Linux x86_64)")
def test_the_inbox_fuzzer_finds_no_crash(request: pytest.FixtureRequest, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    runs = request.config.getoption("--fuzz-runs")
    done = subprocess.run([sys.executable, str(FUZZER), f"-atheris_runs={runs}", "-seed=1"],
                          capture_output=True, text=True, timeout=3600, cwd=tmp_path)
    totals = re.search(r"^fuzz: inputs=(\d+) .*crashes=0$", done.stdout, re.M)
    assert done.returncode == 0 and totals, done.stdout[-2000:] + done.stderr[-4000:]
    with capsys.disabled():
        print("\n" + totals.group(0))
    assert int(totals.group(1)) == runs
