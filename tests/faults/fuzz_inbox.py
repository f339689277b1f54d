"""Coverage-guided fuzzing (atheris) of what a priest does with one inbox entry.

Every input becomes one stream entry: a valid sealed Synod message mutated field by
field, a dict of known field names with random values, or random keys and values.  The
codec must decode it or raise ``MalformedMessage`` (nothing else); a real Worker (priest
P0 of a parliament founded with three members, on fakeredis, file ledger) must then take
it in one ``step()`` without raising,
leave nothing pending in its inbox, and either accept it or dead-letter it; a
dead-lettered entry must leave the priest's durable state exactly as it was.

Run: ``python tests/faults/fuzz_inbox.py -atheris_runs=100000`` (libFuzzer flags work,
e.g. ``-max_total_time=60``); it prints ``fuzz: inputs=N accepted=A dead-lettered=D
crashes=0`` at the end.  A failing input stops the run with its traceback and a
``crash-*`` file to replay.
"""

from __future__ import annotations

import atexit
import logging
import sys
from contextlib import ExitStack
from pathlib import Path

import atheris

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

with atheris.instrument_imports(include=["paxos_redis"]):
    from paxos_redis.errors import MalformedMessage
    from paxos_redis.protocol import codec
    from paxos_redis.protocol.ballot import Ballot
    from paxos_redis.protocol.decree import OLIVE_DAY, Decree
    from paxos_redis.protocol.messages import (
        BeginBallot,
        LastVote,
        NextBallot,
        SuccessfulBallot,
        Voted,
    )

from test_hostile_input import P0, P1, WIRE, durable, priest, stats  # noqa: E402

KEYS = [b"role", b"code", b"from", b"parl", b"ballot", b"known", b"n", b"decree", b"auth",
        b"votes", b"reply", b"req", b"to", b"pid", b"body", b"last"]
SEEDS = [
    WIRE.seal(NextBallot(P1, Ballot(7, P1), 1, 1)),
    WIRE.seal(BeginBallot(P1, Ballot(7, P1), 1, ((1, Decree("p", b"body")), (2, OLIVE_DAY)))),
    WIRE.seal(SuccessfulBallot(P1, Ballot(7, P1), 1, ((1, Decree("p", b"body")),))),
    WIRE.seal(LastVote(P1, Ballot(7, P0), 1, 1, (), ())),
    WIRE.seal(Voted(P1, Ballot(7, P0), 1, (1,))),
]
totals = {"inputs": 0, "accepted": 0, "dead-lettered": 0}


def entry(data: bytes) -> dict[bytes, bytes]:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        fields = dict(SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)])
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            key = KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]
            if fdp.ConsumeBool():
                fields.pop(key, None)
            else:
                fields[key] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    elif mode == 1:
        fields = {KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]:
                  fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
                  for _ in range(fdp.ConsumeIntInRange(1, 8))}
    else:
        fields = {fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 12)):
                  fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
                  for _ in range(fdp.ConsumeIntInRange(1, 6))}
    return fields or {b"x": b""}


def main() -> None:
    logging.disable(logging.WARNING)            # one line per dead-lettered entry otherwise
    stack = ExitStack()
    worker, redis = stack.enter_context(priest())
    atexit.register(stack.close)
    atexit.register(lambda: print("fuzz: " + " ".join(f"{k}={v}" for k, v in totals.items())
                                  + " crashes=0", flush=True))
    inbox = worker.keys.inbox(P0)

    def one(data: bytes) -> None:
        fields = entry(data)
        try:
            codec.decode(fields)
        except MalformedMessage:
            pass
        before, dead = durable(worker), stats(redis)
        redis.xadd(inbox, fields)
        worker.next_tick = 0.0                  # never block: the entry is already there
        worker.step()
        worker.messenger.conduit.push()         # the acks a step queues for its next read
        assert redis.xpending(inbox, "priests")["pending"] == 0, "an entry was left pending"
        totals["inputs"] += 1
        if stats(redis) > dead:
            totals["dead-lettered"] += 1
            assert durable(worker) == before, f"a refused entry changed the priest: {fields!r}"
        else:
            totals["accepted"] += 1

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
