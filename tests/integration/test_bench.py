"""``paxos-redis bench``: a short real run (its own redis-server, 3 priests) and its JSON.

The figures themselves are machine-dependent; what is checked is that every field of
the report is there and sane (decrees passed, percentiles ordered, every process role's
CPU counted, Redis commands counted, RSS read, streams listed), that the ledgers were
fsynced where ``--ledger-dir`` said, and that nothing is left running.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from processes import clean_env, cli_command, processes_using

from paxos_redis.protocol.membership import Founding, name
from paxos_redis.protocol.records import Passed
from paxos_redis.storage.ledger import replay
from paxos_redis.tools.bench.load import split_window
from paxos_redis.tools.bench.measure import Snapshot, cost, latency_ms, percentile

ROLES = ("priests", "god", "citizens", "redis_server", "total")


cli, env = cli_command, clean_env


def positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def check_phase(phase: dict[str, Any], mode: str, window: int) -> None:
    assert phase["mode"] == mode and phase["window"] == window
    assert phase["decrees"] > 0 and phase["errors"] == 0
    assert phase["decrees_per_s"] == pytest.approx(phase["decrees"] / phase["seconds"])
    assert 0.5 < phase["snapshot_seconds"] < 5      # CPU and commands cover about that second
    lat = phase["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert lat["mean"] <= lat["max"]
    for role in ROLES:
        assert phase["cpu_s_per_1000_decrees"][role] is not None, role
        assert phase["cpu_s_per_1000_decrees"][role] >= 0, role
        assert phase["cpu_us_per_decree"][role] == pytest.approx(
            phase["cpu_s_per_1000_decrees"][role] * 1e3)
    assert positive(phase["cpu_s_per_1000_decrees"]["priests"])
    assert positive(phase["cpu_s_per_1000_decrees"]["redis_server"])
    assert len(phase["priest_cpu_s_per_1000_decrees"]) == 3
    assert positive(phase["redis_commands_per_decree"])
    by_name = phase["redis_commands_per_decree_by_name"]
    assert by_name["xadd"] > 0 and "info" not in by_name
    assert sum(by_name.values()) == pytest.approx(phase["redis_commands_per_decree"])


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not on PATH")
def test_bench_writes_every_field(tmp_path: Path) -> None:
    out, ledgers = tmp_path / "out.json", tmp_path / "ledgers"
    began = time.monotonic()
    done = subprocess.run([*cli(), "bench", "--seconds", "1", "--warmup", "0.5", "--priests", "3",
                           "--json", str(out), "--ledger-dir", str(ledgers), "--keep",
                           "--rules", "window=512"],
                          capture_output=True, text=True, timeout=120, env=env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 60
    report = json.loads(out.read_text())

    assert report["config"]["priests"] == 3 and report["config"]["seconds"] == 1.0
    assert report["config"]["rules"] == "window=512" and "rules window=512" in done.stdout
    assert report["durability"]["fsync"] is True
    assert report["durability"]["ledger_dir"] == str(ledgers)
    identities = sorted(p.name.removeprefix("bench-").removesuffix(".ledger")
                        for p in ledgers.glob("*.ledger"))
    assert len(identities) == 3 and all(re.fullmatch("[0-9a-f]{12}", i) for i in identities)
    assert all(p.stat().st_size > 0 for p in ledgers.glob("*.ledger"))
    # the god founded the parliament with those three before anything was measured
    founding = {Founding.parse(d) for p in ledgers.glob("*.ledger")
                for r in replay(p, p.read_bytes())[0] if isinstance(r, Passed)
                for n, d in r.entries if n == 0}
    assert len(founding) == 1 and sorted(map(name, founding.pop().members)) == identities

    phases = report["phases"]
    assert [p["label"] for p in phases] == ["seq", "saturated-w64"]
    check_phase(phases[0], "seq", 1)
    check_phase(phases[1], "saturated", 64)

    idle = report["idle"]
    assert idle["seconds"] > 0.9 and idle["redis_commands_per_s"] > 0
    assert set(idle["cpu_ms_per_s"]) == {"priests", "god", "redis_server"}

    assert sorted(p["priest"] for p in report["priests"]) == identities
    assert all(p["peak_rss_kib"] > 0 for p in report["priests"])
    assert report["god_peak_rss_kib"] > 0
    streams = report["streams"]
    assert {f"paxos:{{bench}}:inbox:{i}" for i in identities} <= set(streams)
    assert "paxos:{bench}:petitions" in streams
    assert all(isinstance(n, int) and n >= 0 for n in streams.values())
    assert report["redis_info"]["version"] and report["redis_info"]["peak_memory_bytes"] > 0

    assert "saturated-w64" in done.stdout and "peak RSS per priest" in done.stdout
    assert "measuring" in done.stderr                       # the progress display
    assert processes_using(ledgers) == []
    assert report["kept"]["ledgers"] == str(ledgers)
    logs = Path(report["kept"]["logs"])
    assert {"god.log", "priest-0.log", "citizen-seq-0.log"} <= {p.name for p in logs.iterdir()}
    assert "rules changed: window=512" in (logs / "priest-0.log").read_text()   # they got them
    shutil.rmtree(logs.parent)


def test_bench_refuses_a_ledger_dir_in_use(tmp_path: Path) -> None:
    (tmp_path / "bench-00000000002a.ledger").write_bytes(b"old")
    done = subprocess.run([*cli(), "bench", "--ledger-dir", str(tmp_path), "--quiet"],
                          capture_output=True, text=True, timeout=60, env=env())
    assert done.returncode == 1
    assert f"--ledger-dir {tmp_path} is not empty" in done.stderr
    assert (tmp_path / "bench-00000000002a.ledger").read_bytes() == b"old"


def test_bench_refuses_a_bad_window() -> None:
    done = subprocess.run([*cli(), "bench", "--window", "16,0"], capture_output=True, text=True,
                          timeout=60, env=env())
    assert done.returncode == 2
    assert "--window" in done.stderr and "'16,0'" in done.stderr


def test_bench_refuses_bad_rules_before_it_starts_anything() -> None:
    done = subprocess.run([*cli(), "bench", "--rules", "window=0"], capture_output=True,
                          text=True, timeout=60, env=env())
    assert done.returncode == 2
    assert "--rules" in done.stderr and "window must be at least 1" in done.stderr


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(1, 101))
    assert [percentile(values, p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert math.isnan(percentile([], 50))
    lat = latency_ms([3000, 1000, 2000])
    assert (lat["p50"], lat["max"], lat["mean"]) == (2.0, 3.0, 2.0)
    assert latency_ms([])["p99"] is None


def test_window_split_over_citizens() -> None:
    assert split_window(64, 1) == [64]
    assert split_window(10, 3) == [4, 3, 3]
    assert split_window(2, 5) == [1, 1]


def test_cost_per_decree_from_two_snapshots() -> None:
    cpu0 = {"priests": 1.0, "god": 0.5, "citizens": 0.0, "redis_server": 2.0}
    cpu1 = {"priests": 3.0, "god": 0.5, "citizens": 1.0, "redis_server": 2.5}
    before = Snapshot(0.0, dict(cpu0), (0.5, 0.5), {"xadd": 10, "info": 3})
    after = Snapshot(1.0, dict(cpu1), (1.5, 1.5), {"xadd": 2010, "xack": 1000, "info": 9})
    got = cost(before, after, 1000)
    assert got["cpu_s_per_1000_decrees"] == {"priests": 2.0, "god": 0.0, "citizens": 1.0,
                                             "redis_server": 0.5, "total": 3.5}
    assert got["priest_cpu_s_per_1000_decrees"] == [1.0, 1.0]
    assert got["redis_commands_per_decree"] == 3.0            # INFO is the bench's own
    assert got["redis_commands_per_decree_by_name"] == {"xadd": 2.0, "xack": 1.0}


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not on PATH")
def test_the_timeline_matches_every_stage_of_every_petition() -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "timeline.py"
    result = subprocess.run([sys.executable, str(script), "--petitions", "40"], env=env(),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:]
            for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line}
    rows.pop("stage")
    assert len(rows) == 13, rows
    for stage, (p50, p90, n) in rows.items():
        assert 0 <= float(p50) <= float(p90), stage
        assert int(n.rstrip(" |")) >= (76 if stage.startswith("voter") else 38), stage


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not on PATH")
def test_the_fsync_share_script_runs_each_side_on_its_filesystem() -> None:
    from paxos_redis.tools.bench.procfs import filesystem
    if filesystem(Path("/dev/shm")) != "tmpfs" or filesystem(Path("/var/tmp")) == "tmpfs":
        pytest.skip("needs /dev/shm on tmpfs and /var/tmp on a disk")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "fsync_share.py"
    result = subprocess.run([sys.executable, str(script), "--pairs", "1", "--seconds", "1",
                             "--warmup", "0.5"], env=env(), capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r[:2] for r in rows[1:]] == [["disk", filesystem(Path("/var/tmp"))], ["tmpfs", "tmpfs"]]
    assert all(float(r[2].replace(",", "")) > 0 and 0 < float(r[3]) <= float(r[5])
               for r in rows[1:])
    assert "the fsyncs take" in result.stdout


def test_a_priest_without_a_known_identity_is_named_by_pid_in_the_table() -> None:
    from paxos_redis.tools.bench.report import text
    config = {"priests": 2, "payload_bytes": 100, "seconds": 1, "warmup_seconds": 1,
              "redis": "own redis-server"}
    table = text({"config": config, "phases": [], "priests": [
        {"priest": "00000000002a", "pid": 11, "peak_rss_kib": 2048},
        {"priest": None, "pid": 12, "peak_rss_kib": 3072}]})
    assert "priest 00000000002a: 2.0, pid 12 (identity unknown): 3.0" in table


def test_the_side_by_side_table_sets_each_sides_best_window_against_the_other() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import results
    finally:
        sys.path.pop(0)

    def phase(mode: str, window: int, rate: float) -> dict[str, Any]:
        return {"mode": mode, "window": window, "decrees_per_s": rate,
                "latency_ms": {"p50": 1.0}, "cpu_us_per_decree": {"priests": 50.0}}

    px = {"phases": [phase("seq", 1, 500.0), phase("saturated", 1024, 20_000.0),
                     phase("saturated", 2048, 24_000.0), phase("saturated", 4096, 23_000.0)]}
    ps = {"tput": {"window": 1024, "decrees_per_s": 4_000.0},
          "tput-wide-2500": {"window": 2500, "decrees_per_s": 8_000.0}}
    rows = {line.split(" | ")[0].lstrip("| "): [c.strip(" |") for c in line.split(" | ")[1:]]
            for line in results.side_by_side(px, ps).splitlines()[2:]}
    assert rows["throughput decrees/s"] == ["20,000.00", "4,000.00", "5.00x"]
    assert rows["paxos-redis 2,048 in flight: decrees/s"][0] == "24,000.00"
    assert rows["best throughput, decrees/s (the target: 3x)"] == ["24,000.00", "8,000.00",
                                                                   "3.00x"]
    assert rows["best throughput: in flight"][:2] == ["2,048", "2,500"]


def test_the_learner_script_times_every_stage_of_a_learned_law() -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "learner.py"
    result = subprocess.run([sys.executable, str(script), "--decrees", "12000", "--gc", "0"],
                            env=env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    header, _, values = result.stdout.splitlines()[-3:]
    stages = [c.strip() for c in header.strip("|").split("|")]
    figures = [float(c) for c in values.strip("|").split("|")]
    assert stages == ["open", "receive", "append", "sync", "compact", "total"]
    assert all(f > 0 for f in figures[:-1]) and math.isclose(sum(figures[:-1]), figures[-1],
                                                               abs_tol=0.05)


def test_a_results_section_links_its_raw_figures_in_a_file_of_their_own(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import results
    finally:
        sys.path.pop(0)
    path = tmp_path / "RESULTS.md"
    for rate in (1.0, 2.0):                          # the same minute twice: two files
        results.append(path, "2026-11-30 01:04 UTC (sweep)", "python benchmarks/bench.py",
                       ["A note."], ["| a |\n|---:|\n| 1 |"], {"rate": rate}, [])
    text = path.read_text()
    assert text.startswith("# Benchmark results") and text.count("## 2026-11-30 01:04") == 2
    links = ["results/2026-11-30-0104-sweep.json", "results/2026-11-30-0104-sweep-2.json"]
    assert all(f"Raw figures: [{link}]({link})" in text for link in links)
    assert [json.loads((tmp_path / link).read_text()) for link in links] == [
        {"rate": 1.0}, {"rate": 2.0}]
