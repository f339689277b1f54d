"""``paxos-redis demo``: the whole show on the embedded messengers, its checks, its cleanup."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from processes import clean_env, cli_command, processes_using

from paxos_redis.demo import (
    Citizens,
    Failover,
    Verdict,
    check_laws,
    check_petitions,
    percentile,
    summary,
)
from paxos_redis.ledger import law_lines, replay

cli, env = cli_command, clean_env


def wait_gone(ledger_dir: Path, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_using(ledger_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# ------------------------------------------------------------------ the real thing

def test_demo_on_embedded_fakeredis_passes_every_check(tmp_path: Path) -> None:
    ledgers = tmp_path / "ledgers"
    result = subprocess.run([*cli(), "demo", "--quiet", "--petitions", "300",
                             "--ledger-dir", str(ledgers)],
                            env=env(), capture_output=True, text=True, timeout=150,
                            stdin=subprocess.DEVNULL)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr
    lines = out.splitlines()
    assert lines[0].startswith("demo: 5 priests, 300 petitions from 4 citizens"), out
    assert lines[-1] == "result: ok", out
    failover = re.search(r"^failover: president seat (\d) killed \(SIGKILL\) after \d+ "
                         r"petitions; new president seat (\d) after ([\d.]+) s", out, re.M)
    assert failover and failover[1] != failover[2], out
    assert re.search(rf"^restart: .* took back seat {failover[1]} from its ledger$", out, re.M)
    assert "agreement: ok: 5/5 ledgers hold the same law of 300 decrees" in out
    assert "petitions: ok: 300 passed once each, 0 lost, 0 passed twice" in out
    throughput = re.search(r"^throughput: ([\d.]+) petitions/s .*p50 ([\d.]+) ms, "
                           r"p99 ([\d.]+) ms$", out, re.M)
    assert throughput and float(throughput[1]) > 0, out
    assert 0 < float(throughput[2]) <= float(throughput[3]), out
    # the summary is not taken on trust: read the ledgers it left behind
    laws = [law_lines(replay(p, p.read_bytes())[0]) for p in sorted(ledgers.glob("*.ledger"))]
    assert len(laws) == 5 and all(law == laws[0] for law in laws) and len(laws[0]) == 300
    assert wait_gone(ledgers) == [], "the demo left processes running"


def test_demo_cleans_up_every_process_when_interrupted(tmp_path: Path) -> None:
    ledgers = tmp_path / "ledgers"
    # A shell runs background jobs with SIGINT ignored, and Python keeps an ignored SIGINT:
    # give the demo the terminal's default, as Ctrl-C would find it.
    demo = subprocess.Popen([*cli(), "demo", "--quiet", "--petitions", "100000",
                             "--ledger-dir", str(ledgers)], env=env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while len(list(ledgers.glob("*.ledger"))) < 5 or len(processes_using(ledgers)) < 6:
            assert demo.poll() is None, demo.communicate()
            assert time.monotonic() < deadline, "the demo never started its parliament"
            time.sleep(0.1)
        demo.send_signal(signal.SIGINT)                 # Ctrl-C, to the demo alone
        _, err = demo.communicate(timeout=30)
        assert demo.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert wait_gone(ledgers) == [], "the demo left processes running after Ctrl-C"


# ------------------------------------------------------------------ the checks themselves

def test_disagreeing_laws_fail_the_agreement_check() -> None:
    verdict = Verdict()
    check_laws({0: ["0,a", "1,b"], 1: ["0,a", "1,c"], 2: ["0,a", "1,b"]}, verdict)
    assert not verdict.ok
    assert verdict.disagreements == ["laws differ: seat 1 has '1,c' where seat 0 has '1,b'"]
    assert verdict.agreeing == 2


def test_a_priest_behind_or_unreadable_fails_the_agreement_check() -> None:
    verdict = Verdict()
    check_laws({0: ["0,a"], 1: ["0,a", "1,b"], 2: "ledger x is corrupt"}, verdict)
    assert verdict.disagreements == ["seat 2: ledger x is corrupt",
                                     "seat 0 is behind: its ledger holds 1 of 2 decrees "
                                     "(it agrees on all it holds)"]


def test_identical_laws_pass() -> None:
    verdict = Verdict()
    check_laws({s: ["0,a", "2,b"] for s in range(5)}, verdict)
    assert verdict.ok and verdict.agreeing == 5 and verdict.law == ["0,a", "2,b"]


def test_petitions_lost_passed_twice_or_misnumbered_fail() -> None:
    verdict = Verdict(law=["0,a", "1,b", "2,a", "4,d"])
    check_petitions(verdict, ["a", "b", "c", "d"], {"a": 0, "b": 1, "d": 3}, ["c: timed out"])
    assert (verdict.lost, verdict.twice) == (1, 1)
    assert verdict.petition_problems == [
        "1 petitions passed twice", "1 petitions are not in the law (lost)",
        "1 citizens were told the wrong decree number, e.g. d: told 3, the law has it at 4",
        "1 petitions failed, e.g. c: timed out"]


def test_the_summary_of_a_failed_check_says_so() -> None:
    args = argparse.Namespace(priests=3, citizens=1)
    citizens = Citizens("redis://127.0.0.1:1/0", "p", 2, 1, 1.0)   # never started
    citizens.told = {"decree-000000": 0, "decree-000001": 1}
    verdict = Verdict()
    check_laws({0: ["0,decree-000000", "1,decree-000001"], 1: ["0,decree-000000", "1,x"],
                2: ["0,decree-000000", "1,decree-000001"]}, verdict)
    check_petitions(verdict, citizens.bodies, citizens.told, [])
    failover = Failover(0, 123, 1, 0.0, new_seat=1, elected_s=1.5, rejoined_seat=0)
    lines = summary(args, "test", citizens, failover, verdict)
    assert "agreement: FAILED: 2/3 ledgers hold the same law of 2 decrees" in lines
    assert lines[-1] == "result: FAILED (1 problems)"
    assert not verdict.ok


def test_no_failover_is_a_failure() -> None:
    citizens = Citizens("redis://127.0.0.1:1/0", "p", 2, 1, 1.0)
    verdict = Verdict(law=["0,decree-000000", "1,decree-000001"], agreeing=3)
    lines = summary(argparse.Namespace(priests=3, citizens=1), "test", citizens, None, verdict)
    assert "failover: FAILED (no new president)" in lines and not verdict.ok


@pytest.mark.parametrize(("values", "q", "want"), [
    ([], 50, 0.0), ([5.0], 99, 5.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
    ([float(i) for i in range(1, 101)], 99, 99.0), ([float(i) for i in range(1, 101)], 50, 50.0),
])
def test_percentile_is_nearest_rank(values: list[float], q: float, want: float) -> None:
    assert percentile(values, q) == want


def test_a_killed_priest_that_never_rejoins_is_a_failure() -> None:
    citizens = Citizens("redis://127.0.0.1:1/0", "p", 2, 1, 1.0)
    verdict = Verdict(law=["0,decree-000000", "1,decree-000001"], agreeing=3)
    failover = Failover(0, 123, 1, 0.0, new_seat=1, elected_s=1.5)      # rejoined_seat None
    lines = summary(argparse.Namespace(priests=3, citizens=1), "test", citizens, failover,
                    verdict)
    assert "restart: FAILED (the restarted priest never took a seat)" in lines
    assert lines[-1].startswith("result: FAILED")
