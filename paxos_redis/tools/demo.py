"""``paxos-redis demo``: a whole Parliament on this machine, its president killed mid-session,
its membership changed by decree.

It starts the messengers (fakeredis served over TCP in this process, or a real
Redis given with ``--redis``), a god and N priests as separate processes with
their ledgers in a temporary directory; the god founds the parliament with those N.
Citizen threads pass petitions; halfway through the demo kills the president with
SIGKILL, shows the new president taking over, and restarts the dead priest, which
is the same priest again from its ledger.  Then the membership changes: the god is
restarted wanting one more voter, and one more priest starts (a new ledger, a new
identity): it learns the law as a listener and is admitted by decree.  Then one
priest is stopped, and the god removes it by decree.  The last petitions pass with
that membership.  At the end it stops the priests (SIGTERM), reads every ledger from
disk and checks that they all hold one law (the priest that left, a beginning of it),
that every petition passed exactly once at the number its citizen was told, and
prints throughput and latency.  It exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import bisect
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from paxos_redis.errors import CliError
from paxos_redis.messengers.connection import redact
from paxos_redis.messengers.heartbeat import president_of
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.membership import name
from paxos_redis.runtime.settings import Settings
from paxos_redis.tools.demo_processes import CATCH_UP_TIMEOUT_S, Citizens, Cluster, Messengers, tally
from paxos_redis.tools.demo_report import (
    Changes,
    Failover,
    Tally,
    Verdict,
    check_laws,
    check_membership,
    check_petitions,
    joined_line,
    left_line,
    percentile,
    read_laws,
    summary,
)
from paxos_redis.tools.local_parliament import POLL_S

__all__ = ["Changes", "Citizens", "Failover", "Tally", "Verdict", "add_parser", "check_laws",
           "check_membership", "check_petitions", "percentile", "read_laws", "run", "summary"]

MIN_PRIESTS = 3          # killing the president must leave a majority
FOUND_TIMEOUT_S = 30.0
FAILOVER_TIMEOUT_S = 20.0
CHANGE_TIMEOUT_S = 30.0
#: the restarted god removes a voter gone this long (the first keeps its default, 30 s,
#: so that the killed president, restarted within seconds, is not removed)
REMOVE_AFTER_S = 2.0
#: the share of the petitions passed after the membership changed
LAST_ROUND = 10


def _at_least(name: str, minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be at least {minimum}, got {value}")
        return value
    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--timeout must be a number of seconds > 0, "
                                         f"got {text!r}")
    return value


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo", help="run a parliament here, kill its president mid-run, change its "
        "membership, check every ledger")
    p.add_argument("--redis", dest="redis_url", metavar="URL",
                   help="a real Redis for the messengers (default: fakeredis, in-process)")
    p.add_argument("--ledger-dir", type=Path, help="directory for the priests' ledgers "
                   "(default: a temporary directory, removed afterwards)")
    p.add_argument("--parliament", help="parliament name (default: a fresh demo-XXXXXX)")
    p.add_argument("--priests", type=_at_least("--priests", MIN_PRIESTS), default=5,
                   help=f"priest processes (default 5, at least {MIN_PRIESTS})")
    p.add_argument("--petitions", type=_at_least("--petitions", 2), default=1000,
                   help="petitions to pass (default 1000)")
    p.add_argument("--citizens", type=_at_least("--citizens", 1), default=4,
                   help="citizen threads petitioning at once (default 4)")
    p.add_argument("--timeout", type=_seconds, default=30.0,
                   help="seconds a petition may take (default 30)")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")


# ---------------------------------------------------------------- showing it

class Display:
    """Narrative lines on stdout (unless quiet), one live progress line on a terminal."""

    def __init__(self, quiet: bool, out: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.quiet = quiet
        self.live = not quiet and self.out.isatty() and self.err.isatty()
        self._shown = False

    def say(self, text: str) -> None:
        if not self.quiet:
            self.clear()
            print(text, file=self.out, flush=True)

    def progress(self, text: str) -> None:
        if self.live:
            self.err.write("\r\x1b[K" + text)
            self.err.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._shown = False


# ---------------------------------------------------------------- the failover

def _kill_president(cluster: Cluster, passed: int, show: Display) -> Failover | None:
    found = cluster.presiding()
    child = None if found is None else cluster.children.by_pid(found.pid)
    if found is None or child is None:
        return None                      # between presidents: try again on the next poll
    show.say(f"killing the president, priest {found.name} (pid {found.pid}), with SIGKILL "
             f"after {passed} petitions")
    child.signal(signal.SIGKILL)
    return Failover(found.name, found.pid, passed, time.monotonic())


def _after_kill(cluster: Cluster, f: Failover, show: Display) -> None:
    """Notice the new president, then restart the dead priest (it reopens its ledger)."""
    now = time.monotonic()
    if f.new_priest is None:
        found = cluster.presiding(exclude_pid=f.old_pid)
        if found is not None:
            f.new_priest, f.elected_s = found.name, now - f.killed_at
            show.say(f"priest {f.new_priest} presides after {f.elected_s:.2f} s")
            f.restarted_pid = cluster.spawn_priest(f"priest-{f.old_priest}-restarted").pid
            show.say(f"restarted the dead priest as pid {f.restarted_pid}")
    if f.restarted_pid is not None and f.rejoined is None:
        again = [b for b in cluster.live_beats().values() if b.pid == f.restarted_pid]
        if again:
            f.rejoined = again[0].name
            show.say(f"pid {f.restarted_pid} is priest {f.rejoined} again, from its ledger")


def drive(cluster: Cluster, citizens: Citizens, show: Display) -> Failover | None:
    """Run the citizens; kill the president halfway; wait for the failover to finish."""
    kill_at = max(1, len(citizens.bodies) // 2)
    failover: Failover | None = None
    citizens.start()
    give_up = None
    while True:
        running = citizens.running()
        if failover is None and (citizens.passed() >= kill_at or not running):
            failover = _kill_president(cluster, citizens.passed(), show)
        if failover is not None:
            _after_kill(cluster, failover, show)
        if not running and failover is not None and failover.rejoined is not None:
            break                        # done: a new president, and the dead priest is back
        if not running:
            give_up = give_up or time.monotonic() + FAILOVER_TIMEOUT_S
            if time.monotonic() > give_up:
                break
        cluster.check_alive()
        rate = citizens.passed() / max(1e-9, time.monotonic() - citizens.started)
        president = cluster.presiding()
        show.progress(f"passed {citizens.passed()}/{len(citizens.bodies)}  {rate:.0f}/s  "
                      f"president: {president.name if president else '-'}")
        time.sleep(POLL_S)
    show.clear()
    if failover is not None and failover.elected_s is not None:
        elected = failover.killed_at + failover.elected_s
        i = bisect.bisect_right(citizens.finished, elected)    # completions are in time order
        if i < len(citizens.finished):
            failover.resumed_s = citizens.finished[i] - failover.killed_at
    return failover


# ---------------------------------------------------------------- the membership

def _join(cluster: Cluster, changes: Changes, show: Display) -> None:
    """Start one more priest; wait until it is admitted and its vote counts."""
    proc = cluster.spawn_priest("priest-joining")
    show.say(f"started one more priest (pid {proc.pid}): no ledger is free, so it is a new "
             "priest, with a new identity")
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while time.monotonic() < deadline:
        cluster.check_alive()
        beats = cluster.live_beats()
        mine = next((b for b in beats.values() if b.pid == proc.pid), None)
        if mine is not None and changes.joined is None:
            changes.joined = mine.name
        if mine is not None and mine.role == "listener" and not changes.listening:
            changes.listening = True
            show.say(f"priest {mine.name} learned the founding: a listener, it knows the law "
                     f"below decree {mine.known}")
        president = president_of(beats)
        if mine is not None and president is not None and mine.priest in president.members:
            changes.admitted_at, changes.voting_from = president.members_at, \
                president.pending_until
            show.say(joined_line(changes))
            return
        time.sleep(POLL_S)


def _leave(cluster: Cluster, changes: Changes, show: Display, avoid: str | None) -> None:
    """Stop one voter (not the president, nor the newcomer, nor ``avoid`` if another will
    do); wait until it is removed."""
    beats = cluster.live_beats()
    voters = sorted((b for b in beats.values() if b.role == "voter" and not b.president
                     and b.name != changes.joined), key=lambda b: (b.name == avoid, b.name))
    proc = cluster.children.by_pid(voters[0].pid) if voters else None
    if proc is None:
        return
    leaving = voters[0]
    cluster.retire(proc)
    changes.left = leaving.name
    show.say(f"stopped priest {leaving.name} (pid {leaving.pid}, SIGTERM); the god removes a "
             f"voter gone {REMOVE_AFTER_S:g} s")
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while time.monotonic() < deadline:
        cluster.check_alive()
        president = cluster.presiding()
        if president is not None and leaving.priest not in president.members \
                and president.members_at > (changes.admitted_at or 0):
            changes.removed_at, changes.removed_from = president.members_at, \
                president.pending_until
            show.say(left_line(changes))
            return
        time.sleep(POLL_S)


def change_membership(cluster: Cluster, show: Display, founders: tuple[str, ...],
                      avoid: str | None = None) -> Changes:
    """One priest joins (the god, restarted, wants one more voter), then one leaves (not
    ``avoid``, if another can)."""
    changes = Changes(founders=founders, target=cluster.target + 1)
    cluster.restart_god(changes.target, REMOVE_AFTER_S)
    show.say(f"restarted the god with --priests {changes.target} --remove-after "
             f"{REMOVE_AFTER_S:g}: it wants one more voter")
    _join(cluster, changes, show)
    if changes.voting_from is None:
        return changes
    if not cluster.settle():
        show.say(f"some priests did not learn every decree within {CATCH_UP_TIMEOUT_S:g} s")
    _leave(cluster, changes, show, avoid)
    return changes


# ---------------------------------------------------------------- the whole run

def _session(args: argparse.Namespace, work: Path, show: Display,
             stack: list[Any]) -> tuple[list[str], bool]:
    messengers = Messengers(args.redis_url)
    stack.append(messengers)
    parliament = args.parliament or f"demo-{secrets.token_hex(3)}"
    if args.parliament is None:
        messengers.pattern = Keys(parliament).pattern()
    settings = Settings(redis_url=messengers.url, parliament=parliament,
                        ledger_dir=args.ledger_dir or work / "ledgers", priests=args.priests,
                        secret=secrets.token_hex(16))
    used = sorted(settings.ledger_dir.glob(f"{parliament}-*.ledger"))
    if used:
        raise CliError(f"{settings.ledger_dir} already holds ledgers of parliament "
                       f"{parliament!r} ({used[0].name}, ...): the demo needs a fresh "
                       "parliament; leave out --parliament, or use an empty --ledger-dir")
    show.say(f"messengers: {messengers.label} at {redact(messengers.url)}")
    cluster = Cluster(settings, messengers.redis, work / "logs")
    stack.append(cluster)
    cluster.start()
    show.say(f"started a god and {args.priests} priests of parliament {parliament!r}; "
             f"ledgers in {settings.ledger_dir}")
    first = cluster.wait_founded(FOUND_TIMEOUT_S)
    founders = tuple(sorted(name(p) for p in first.members))
    show.say(f"the god founded the parliament (genesis {first.genesis}) with {args.priests} "
             f"priests: {' '.join(founders)}; priest {first.name} presides")
    bodies = [f"decree-{i:06d}" for i in range(args.petitions)]
    last = max(1, args.petitions // LAST_ROUND)
    citizens = Citizens(messengers.url, parliament, bodies[:-last], args.citizens, args.timeout)
    stack.append(citizens)
    failover = drive(cluster, citizens, show)
    if not cluster.settle():
        show.say(f"some priests did not learn every decree within {CATCH_UP_TIMEOUT_S:g} s")
    changes = change_membership(cluster, show, founders,
                                None if failover is None else failover.old_priest)
    after = Citizens(messengers.url, parliament, bodies[-last:], args.citizens, args.timeout)
    stack.append(after)
    after.start()
    after.wait(cluster.check_alive)
    show.say(f"passed {after.passed()} more petitions with the new membership")
    if not cluster.settle():
        show.say(f"some priests did not learn every decree within {CATCH_UP_TIMEOUT_S:g} s")
    show.say("stopping the priests (SIGTERM) and reading every ledger")
    cluster.stop()
    verdict = Verdict()
    check_laws(read_laws(settings.ledger_dir, parliament), verdict,
               left=() if changes.left is None else (changes.left,))
    if verdict.ledgers != args.priests + 1:
        verdict.other.append(f"{verdict.ledgers} ledgers in {settings.ledger_dir}, not "
                             f"{args.priests + 1} (the founders and the priest that joined)")
    check_membership(verdict, changes)
    numbers = tally(citizens, after)
    check_petitions(verdict, numbers.bodies, numbers.told, numbers.errors)
    where = "embedded fakeredis" if messengers.server else redact(messengers.url)
    lines = summary(args, where, numbers, failover, changes, verdict,
                    failover_timeout=FAILOVER_TIMEOUT_S)
    return lines, verdict.ok


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """``paxos-redis demo``; 0 when every check passed."""
    show = Display(args.quiet)
    work = Path(tempfile.mkdtemp(prefix="paxos-demo-"))
    stack: list[Any] = []
    keep = True                         # keep logs and ledgers unless the run went well
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        lines, ok = _session(args, work, show, stack)
        keep = not ok
        for line in lines:
            print(line, flush=True)
        if keep:
            print(f"logs and ledgers kept in {work}", flush=True)
        return 0 if ok else 1
    except KeyboardInterrupt:
        keep = False
        show.clear()
        print("paxos-redis demo: interrupted; stopping every process", file=sys.stderr)
        return 130
    finally:
        show.clear()
        for thing in reversed(stack):
            thing.close() if isinstance(thing, Messengers) else thing.stop()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if not keep or not any(work.iterdir()):
            shutil.rmtree(work, ignore_errors=True)
