"""Where one sequential petition's time goes: a timeline from citizen to receipts.

    python benchmarks/timeline.py [--petitions 1500] [--priests 5] [--payload 100]

Starts its own redis-server, a god and N priests (as ``paxos-redis bench`` does, fsync on),
each priest with its loop timed from the outside (the package's code runs unchanged; this
script wraps a few of its methods in the priest processes).  One citizen in this process
passes petitions one at a time; every stage is matched across processes by petition id on
the machine's monotonic clock, and the table gives each stage's p50 and p90 in ms.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import checkout  # noqa: F401  (first: this checkout's paxos_redis, whatever the cwd)

from paxos_redis.tools.bench.cluster import Cluster  # noqa: E402


def priest_timed(out: str) -> None:
    """``paxos-redis priest``, writing per step that voted: identity, petition, read, commit,
    fsync start, fsync end and end of step (monotonic seconds)."""
    from paxos_redis.messengers.streams import Messenger
    from paxos_redis.protocol.messages import BeginBallot
    from paxos_redis.runtime.worker import Worker
    from paxos_redis.tools.cli import main as cli_main

    marks: dict[str, float] = {}
    log = open(out, "w", buffering=1)                     # noqa: SIM115 - open for the run
    receive, sync, commit = Messenger.receive_with, Worker._sync, Worker._commit

    def timed_receive(self: Messenger, *args: Any) -> Any:
        got = receive(self, *args)
        marks["read"] = time.monotonic()
        return got

    def timed_sync(self: Worker, *args: Any) -> None:
        marks["sync"] = time.monotonic()
        sync(self, *args)
        marks["synced"] = time.monotonic()

    def timed_commit(self: Worker, effects: Any, *args: Any) -> None:
        began = time.monotonic()
        marks.pop("sync", None)
        pids = [d.petition for _, m in effects.messages if type(m) is BeginBallot
                for _, d in m.entries] + [r.petition for r in effects.receipts]
        commit(self, effects, *args)
        if pids and "sync" in marks:
            log.write(f"{self.id} {pids[0]} {marks.get('read', began):.6f} {began:.6f} "
                      f"{marks['sync']:.6f} {marks['synced']:.6f} {time.monotonic():.6f}\n")

    Messenger.receive_with = timed_receive               # type: ignore[method-assign]
    Worker._sync = timed_sync                            # type: ignore[method-assign]
    Worker._commit = timed_commit                        # type: ignore[method-assign]
    cli_main(["priest"])


def citizen_run(cluster: Cluster, petitions: int, payload: int) -> tuple[dict, dict, dict]:
    """Petition one at a time; (send time, receipt times, answer time) per petition id."""
    from paxos_redis.citizen.client import Client
    from paxos_redis.messengers.citizens import Receipt

    sent: dict[str, float] = {}
    receipts: dict[str, list[float]] = defaultdict(list)
    answered: dict[str, float] = {}
    with Client(cluster.redis, cluster.parliament) as client:
        send, file = client._send, client._session.file

        def timed_send(commands: Any) -> None:
            sent.setdefault(current, time.monotonic())
            send(commands)

        def timed_file(item: Any, woken: Any) -> None:
            if isinstance(item, Receipt):
                receipts[item.petition].append(time.monotonic())
            file(item, woken)

        client._send, client._session.file = timed_send, timed_file  # type: ignore[method-assign]
        for i in range(petitions + 100):                         # the first 100 warm up
            current = f"timeline-{i:06d}"
            client.petition(b"x" * payload, pid=current, timeout=30)
            answered[current] = time.monotonic()
    for i in range(100):
        sent.pop(f"timeline-{i:06d}", None)
    return sent, receipts, answered


def stages(traces: list[Path], sent: dict, receipts: dict, answered: dict) -> dict[str, list]:
    """Per stage, its durations in ms over the petitions seen by a president and 2 voters."""
    steps: dict[str, dict[int, tuple[float, ...]]] = defaultdict(dict)
    for path in traces:
        for line in path.read_text().splitlines():
            priest, pid, *times = line.split()
            steps[pid][int(priest)] = tuple(float(t) for t in times)
    out: dict[str, list[float]] = defaultdict(list)

    def ms(a: float, b: float) -> float:
        return (b - a) * 1000

    for pid, t0 in sent.items():
        seen = steps.get(pid, {})
        if len(seen) < 3 or pid not in answered:
            continue
        president = min(seen, key=lambda s: seen[s][0])       # the first to read it
        read, commit, sync, synced, _ = seen[president]
        voters = sorted((v for s, v in seen.items() if s != president), key=lambda v: v[0])
        # the begin ballot leaves as the president's step commits, while its own vote's
        # fsync runs (Effects.before_records): voters may read it before that fsync starts
        out["citizen sends -> president reads"].append(ms(t0, read))
        out["president reads -> commits its step (begin ballot out)"].append(ms(read, commit))
        out["president's fsync"].append(ms(sync, synced))
        out["begin ballot out -> first voter reads"].append(ms(commit, voters[0][0]))
        out["begin ballot out -> second voter reads"].append(ms(commit, voters[1][0]))
        for v_read, _, v_sync, v_synced, v_end in voters[:2]:
            out["voter reads -> starts its fsync"].append(ms(v_read, v_sync))
            out["voter's fsync"].append(ms(v_sync, v_synced))
            out["voter's fsync -> receipt queued"].append(ms(v_synced, v_end))
        got = sorted(receipts.get(pid, []))
        if len(got) >= 3:
            out["second voter's receipt queued -> citizen has 3 receipts"].append(
                ms(voters[1][4], got[2]))
            for k in range(3):
                out[f"citizen sends -> receipt {k + 1} of 3"].append(ms(t0, got[k]))
        out["citizen sends -> answered (all)"].append(ms(t0, answered[pid]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--petitions", type=int, default=1500)
    ap.add_argument("--priests", type=int, default=5)
    ap.add_argument("--payload", type=int, default=100)
    ap.add_argument("--role", default="main", choices=["main", "priest-timed"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role == "priest-timed":
        priest_timed(a.out)
        return 0
    work = Path(tempfile.mkdtemp(prefix="paxos-timeline-"))

    def priest_argv(i: int) -> list[str]:
        return [sys.executable, str(Path(__file__)), "--role", "priest-timed",
                "--out", str(work / f"trace-{i}.txt")]

    cluster = Cluster(priests=a.priests, workdir=work, priest_argv=priest_argv)
    try:
        cluster.start()
        sent, receipts, answered = citizen_run(cluster, a.petitions, a.payload)
    finally:
        cluster.close()
    table = stages(sorted(work.glob("trace-*.txt")), sent, receipts, answered)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{a.petitions} petitions one at a time, {a.priests} priests, {a.payload} B, "
          f"fsync on (ledgers in {cluster.ledger_dir}, {cluster.ledger_fs})")
    print("\n| stage | p50 ms | p90 ms | n |\n|---|---:|---:|---:|")
    for name, values in table.items():
        values.sort()
        print(f"| {name} | {values[len(values) // 2]:.3f} | "
              f"{values[len(values) * 9 // 10]:.3f} | {len(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
