"""A learner's core path alone: CPU per decree by stage, in this process, no Redis.

    python benchmarks/learner.py [--decrees 200000] [--batch 256] [--payload 100] [--gc T0,T1,T2]

What every priest does with each announced decree, as the priest process does it: open
the sealed SuccessfulBallot (``open``), let the core learn and apply it (``receive``),
frame its records into the ledger batch (``append``), fsync once per message (``sync``),
and compact (archive, new ledger) every ``law_memory / 2`` decrees (``compact``).  The
ledger and archive are real files in /var/tmp.  ``--gc`` sets the collector's thresholds
first, as ``paxos-redis priest`` does with its own (``0`` turns it off).  Prints CPU-us
per decree (process time) per stage; nothing is written to RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path

import checkout  # noqa: F401  (first: this checkout's paxos_redis, whatever the cwd)

from paxos_redis.messengers.wire import Wire  # noqa: E402
from paxos_redis.protocol import Ballot, Decree, Founding, Identity, Priest, Rules  # noqa: E402
from paxos_redis.protocol.compaction import compact, due  # noqa: E402
from paxos_redis.protocol.messages import SuccessfulBallot  # noqa: E402
from paxos_redis.storage.ledger import FileLedger  # noqa: E402

STAGES = ("open", "receive", "append", "sync", "compact")


def run(decrees: int, batch: int, payload: int) -> dict[str, float]:
    """CPU-us per decree of each stage, learning ``decrees`` in messages of ``batch``."""
    tmp = Path(tempfile.mkdtemp(prefix="paxos-learner-", dir="/var/tmp"))
    try:
        # a member of five, learning from the president (priest 1) the law it founded
        me, rules, wire = Identity("bench", 4), Rules(), Wire("bench")
        ledger = FileLedger.open(tmp / "ledger", create=me)
        priest = Priest(me, rules)
        priest.law.resume(ledger.archive)
        founding = Founding("bench", 4096, (1, 2, 3, 4, 5)).decree()
        messages = []
        for start in range(0, decrees, batch):
            entries = tuple((n, founding if n == 0 else
                             Decree(f"{os.urandom(16).hex()}-{n}", os.urandom(payload)))
                            for n in range(start, min(decrees, start + batch)))
            messages.append(wire.seal(SuccessfulBallot(1, Ballot(1, 1), start + len(entries),
                                                       entries)))
        spent = dict.fromkeys(STAGES, 0.0)
        every, clock = max(1, rules.law_memory // 2), time.process_time
        for fields in messages:
            t0 = clock()
            message = wire.open(fields)
            t1 = clock()
            effects = priest.receive(message)
            t2 = clock()
            ledger.append(effects.records)
            t3 = clock()
            ledger.sync()
            t4 = clock()
            if due(priest, ledger.archive, every):
                compact(priest, ledger.archive, ledger.replace)
            t5 = clock()
            for stage, took in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
                                   strict=True):
                spent[stage] += took
        ledger.close()
        if priest.law.known != decrees:
            raise SystemExit(f"learned {priest.law.known} decrees of {decrees}")
        return {stage: s / decrees * 1e6 for stage, s in spent.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--decrees", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=256, help="decrees per announcement")
    ap.add_argument("--payload", type=int, default=100, help="decree body bytes")
    ap.add_argument("--gc", help="the collector's thresholds, T0[,T1[,T2]] (0: off)")
    a = ap.parse_args()
    if a.gc:
        gc.set_threshold(*(int(t) for t in a.gc.split(",")))
    per = run(a.decrees, a.batch, a.payload)
    print(f"{a.decrees:,} decrees of {a.payload} B in messages of {a.batch}, "
          f"gc thresholds {gc.get_threshold()}: CPU-us per decree")
    print("| " + " | ".join(STAGES) + " | total |")
    print("|" + "---:|" * (len(STAGES) + 1))
    print("| " + " | ".join(f"{per[s]:.2f}" for s in STAGES) + f" | {sum(per.values()):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
