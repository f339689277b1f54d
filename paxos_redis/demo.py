"""``paxos-redis demo``: a whole Parliament on this machine, its president killed mid-session.

It starts the messengers (fakeredis served over TCP in this process, or a real
Redis given with ``--redis``), a god and N priests as separate processes with
their ledgers in a temporary directory, then passes petitions from several
citizen threads.  Halfway through it kills the president with SIGKILL, shows
the new president taking over, and restarts the dead priest, which takes its
seat back from its ledger.  At the end it stops the priests (SIGTERM), reads
every ledger from disk and checks that they all hold one law, that every
petition passed exactly once at the number its citizen was told, and prints
throughput and latency.  It exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import bisect
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from redis.exceptions import AuthenticationError, RedisError

from .connection import check, connect, redact
from .errors import PaxosError
from .keys import Keys
from .ledger import LedgerError, law_lines, replay
from .settings import Settings

MIN_PRIESTS = 3          # killing the president must leave a majority
SEAT_TIMEOUT_S = 30.0
FAILOVER_TIMEOUT_S = 20.0
CATCH_UP_TIMEOUT_S = 20.0
POLL_S = 0.05


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
        "demo", help="run a parliament here, kill its president mid-run, check every ledger")
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


# ---------------------------------------------------------------- the messengers

def _embedded_server() -> Any:
    """fakeredis's own TCP server, with Nagle off (else each pipelined reply waits ~40 ms
    for a delayed ACK)."""
    from .cli import CliError
    try:
        from fakeredis import TcpFakeServer
    except ImportError:
        raise CliError("the embedded messengers need fakeredis>=2.41 (pip install "
                       "'fakeredis>=2.41'), or give a real Redis: --redis URL") from None

    class NoDelayServer(TcpFakeServer):
        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = super().get_request()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address

    return NoDelayServer(("127.0.0.1", 0))


class Messengers:
    """The Redis the demo runs on: embedded fakeredis, or the ``--redis`` URL (checked)."""

    def __init__(self, url: str | None) -> None:
        self.server: Any = None
        self.redis: Any = None
        self.pattern: str | None = None      # the keys to delete from a real Redis at the end
        if url is None:
            self.server = _embedded_server()
            threading.Thread(target=self.server.serve_forever, name="fakeredis",
                             daemon=True).start()
            url = f"redis://127.0.0.1:{self.server.server_address[1]}/0"
        self.url = url
        self.label = "fakeredis (embedded)" if self.server else f"Redis at {redact(url)}"
        from .cli import CliError
        try:
            self.redis = connect(url, client_name="paxos-demo")
        except ValueError as exc:
            self.close()
            raise CliError(f"--redis: {exc}") from None
        try:
            check(self.redis, url)
        except AuthenticationError:
            self.close()
            raise                                   # says which URL and what to fix
        except RedisError as exc:
            self.close()
            raise CliError(f"Redis at {redact(url)} is unreachable: {exc}") from None

    def close(self) -> None:
        """Forget the demo parliament's keys on a real Redis; stop the embedded one."""
        if self.redis is not None and self.server is None and self.pattern is not None:
            try:
                keys = list(self.redis.scan_iter(match=self.pattern, count=1000))
                if keys:
                    self.redis.delete(*keys)
            except RedisError:
                pass
        if self.redis is not None:
            self.redis.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


# ---------------------------------------------------------------- the processes

@dataclass
class Failover:
    old_seat: int
    old_pid: int
    at_passed: int
    killed_at: float
    new_seat: int | None = None
    elected_s: float | None = None
    resumed_s: float | None = None
    restarted_pid: int | None = None
    rejoined_seat: int | None = None


class Cluster:
    """The god and the priests, each its own ``python -m paxos_redis.cli`` process."""

    def __init__(self, settings: Settings, redis: Any, logs: Path) -> None:
        self.settings, self.redis, self.logs = settings, redis, logs
        self.seats = settings.priests or 0
        self.children: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
        env = {k: v for k, v in os.environ.items() if k != "PAXOS_SEAT"}
        env.update(REDIS_URL=settings.redis_url, PAXOS_PARLIAMENT=settings.parliament,
                   PAXOS_LEDGER_DIR=str(settings.ledger_dir), PAXOS_PRIESTS=str(self.seats),
                   PAXOS_SECRET=settings.secret or "")
        self.env = env

    def spawn(self, role: str, name: str) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "paxos_redis.cli", role], env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.children[proc.pid] = (name, proc)
        return proc

    def start(self) -> None:
        self.spawn("god", "god")
        for k in range(self.seats):
            self.spawn("priest", f"priest-{k}")

    def heartbeats(self) -> dict[int, dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for seat in range(self.seats):
            pipe.hgetall(self.settings.keys.heartbeat(seat))
        return {seat: {k.decode(): v.decode() for k, v in beat.items()}
                for seat, beat in enumerate(pipe.execute()) if beat}

    def president(self, exclude: int | None = None) -> tuple[int, int] | None:
        """(seat, pid) of a priest of ours whose heartbeat says it presides."""
        for seat, beat in sorted(self.heartbeats().items()):
            if beat.get("president") == "1" and seat != exclude and self._ours(beat):
                return seat, int(beat["pid"])
        return None

    def _ours(self, beat: Mapping[str, str]) -> bool:
        pid = int(beat.get("pid", "0"))
        return pid in self.children and self.children[pid][1].poll() is None

    def check_alive(self) -> None:
        from .cli import CliError
        for name, proc in self.children.values():
            if proc.poll() not in (None, -signal.SIGKILL):
                raise CliError(f"{name} exited with code {proc.returncode}: "
                               f"{self.last_line(name)} (log: {self.logs / (name + '.log')})")

    def last_line(self, name: str) -> str:
        try:
            lines = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return lines[-1].strip() if lines else "(empty log)"

    def wait_seated(self, timeout: float) -> int:
        """Wait for every seat to be taken by one of ours and for a president; its seat."""
        from .cli import CliError
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            beats = self.heartbeats()
            president = self.president()
            if len(beats) == self.seats and all(map(self._ours, beats.values())) and president:
                return president[0]
            time.sleep(POLL_S)
        raise CliError(f"the parliament did not seat {self.seats} priests and elect a president "
                       f"within {timeout:g} s; see the logs in {self.logs}")

    def caught_up(self, top: int, timeout: float) -> bool:
        """Wait until every seat's heartbeat knows the law past decree ``top``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            beats = self.heartbeats()
            if len(beats) == self.seats and all(int(b.get("known", 0)) > top
                                                for b in beats.values()):
                return True
            time.sleep(POLL_S)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM everyone (priests drain and exit), then SIGKILL whoever lingers."""
        procs = [proc for _, proc in self.children.values() if proc.poll() is None]
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- the citizens

class Citizens:
    """Threads, each with its own :class:`Client`, passing ``decree-NNNNNN`` petitions."""

    def __init__(self, url: str, parliament: str, petitions: int, citizens: int,
                 timeout: float) -> None:
        self.url, self.parliament, self.timeout = url, parliament, timeout
        self.bodies = [f"decree-{i:06d}" for i in range(petitions)]
        self.told: dict[str, int] = {}          # body -> the decree number its citizen got
        self.latencies: list[float] = []
        self.finished: list[float] = []          # monotonic completion times
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self.threads = [threading.Thread(target=self._citizen, name=f"citizen-{k}", daemon=True)
                        for k in range(citizens)]
        self.started = self.ended = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """No new petitions; wait briefly for those in flight (the threads are daemons)."""
        self.stopping.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(1.0)

    def running(self) -> bool:
        alive = any(thread.is_alive() for thread in self.threads)
        if not alive and not self.ended:
            self.ended = max(self.finished, default=time.monotonic())
        return alive

    def passed(self) -> int:
        return len(self.told)

    def _take(self) -> int | None:
        with self._lock:
            i, self._next = self._next, self._next + 1
        return i if i < len(self.bodies) and not self.stopping.is_set() else None

    def _citizen(self) -> None:
        from .client import Client
        try:
            with Client.from_url(self.url, parliament=self.parliament) as client:
                while (i := self._take()) is not None:
                    self._petition(client, i)
        except (PaxosError, RedisError) as exc:
            with self._lock:
                self.errors.append(f"a citizen gave up: {exc}")

    def _petition(self, client: Any, i: int) -> None:
        body, start = self.bodies[i], time.perf_counter()
        try:
            number = client.petition(body, self.timeout, pid=f"demo-{i}")
        except (PaxosError, RedisError) as exc:
            with self._lock:
                self.errors.append(f"{body}: {exc}")
            return
        with self._lock:
            self.told[body] = number
            self.latencies.append(time.perf_counter() - start)
            self.finished.append(time.monotonic())


# ---------------------------------------------------------------- the checks (pure)

@dataclass
class Verdict:
    """What the checks found; ``ok`` when nothing."""

    law: list[str] = field(default_factory=list)      # the longest ledger's law
    disagreements: list[str] = field(default_factory=list)
    petition_problems: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    agreeing: int = 0
    lost: int = 0
    twice: int = 0

    @property
    def problems(self) -> list[str]:
        return self.disagreements + self.petition_problems + self.other

    @property
    def ok(self) -> bool:
        return not self.problems


def check_laws(laws: Mapping[int, Sequence[str] | str], verdict: Verdict) -> None:
    """Every ledger must hold one and the same law (a str value: that ledger is unreadable)."""
    readable = {seat: list(law) for seat, law in laws.items() if not isinstance(law, str)}
    for seat, law in laws.items():
        if isinstance(law, str):
            verdict.disagreements.append(f"seat {seat}: {law}")
    if not readable:
        verdict.disagreements.append("no ledger could be read")
        return
    ref_seat = max(readable, key=lambda s: (len(readable[s]), -s))
    verdict.law = ref = readable[ref_seat]
    for seat, law in sorted(readable.items()):
        if law == ref:
            verdict.agreeing += 1
        elif law == ref[:len(law)]:
            verdict.disagreements.append(f"seat {seat} is behind: its ledger holds {len(law)} of "
                                    f"{len(ref)} decrees (it agrees on all it holds)")
        else:
            at = next(i for i, (a, b) in enumerate(zip(law, ref, strict=False)) if a != b)
            mine = law[at]
            verdict.disagreements.append(f"laws differ: seat {seat} has {mine!r} where seat "
                                    f"{ref_seat} has {ref[at]!r}")


def check_petitions(verdict: Verdict, bodies: Sequence[str], told: Mapping[str, int],
                    errors: Sequence[str]) -> None:
    """Each petition in the law exactly once, at the number its citizen was told."""
    where: dict[str, list[int]] = {}
    for line in verdict.law:
        n, _, body = line.partition(",")
        where.setdefault(body, []).append(int(n))
    counts = Counter({body: len(ns) for body, ns in where.items()})
    verdict.twice = sum(1 for body in bodies if counts[body] > 1)
    verdict.lost = sum(1 for body in bodies if counts[body] == 0)
    wrong = [b for b in bodies if b in told and counts[b] == 1 and where[b][0] != told[b]]
    if verdict.twice:
        verdict.petition_problems.append(f"{verdict.twice} petitions passed twice")
    if verdict.lost:
        verdict.petition_problems.append(f"{verdict.lost} petitions are not in the law (lost)")
    if wrong:
        first = wrong[0]
        verdict.petition_problems.append(
            f"{len(wrong)} citizens were told the wrong decree number, e.g. {first}: told "
            f"{told[first]}, the law has it at {where[first][0]}")
    if errors:
        verdict.petition_problems.append(f"{len(errors)} petitions failed, e.g. {errors[0]}")


def read_laws(settings: Settings, seats: int) -> dict[int, list[str] | str]:
    laws: dict[int, list[str] | str] = {}
    for seat in range(seats):
        path = settings.ledger_path(seat)
        try:
            laws[seat] = law_lines(replay(path, path.read_bytes())[0])
        except OSError as exc:
            laws[seat] = f"cannot read {path}: {exc.strerror}"
        except LedgerError as exc:
            laws[seat] = str(exc)
    return laws


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q / 100 * len(ordered) + 0.5) - 1))]


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


def _kill_president(cluster: Cluster, passed: int, show: Display) -> Failover | None:
    found = cluster.president()
    if found is None:
        return None                      # between presidents: try again on the next poll
    seat, pid = found
    show.say(f"killing the president, seat {seat} (pid {pid}), with SIGKILL after "
             f"{passed} petitions")
    os.kill(pid, signal.SIGKILL)
    return Failover(seat, pid, passed, time.monotonic())


def _after_kill(cluster: Cluster, citizens: Citizens, f: Failover, show: Display) -> None:
    """Notice the new president, then restart the dead priest (it reclaims its ledger)."""
    now = time.monotonic()
    if f.new_seat is None:
        found = cluster.president(exclude=f.old_seat)
        if found is not None:
            f.new_seat, f.elected_s = found[0], now - f.killed_at
            show.say(f"seat {f.new_seat} presides after {f.elected_s:.2f} s")
            f.restarted_pid = cluster.spawn("priest", f"priest-seat{f.old_seat}-restarted").pid
            show.say(f"restarted the dead priest as pid {f.restarted_pid}")
    if f.restarted_pid is not None and f.rejoined_seat is None:
        seats = [s for s, b in cluster.heartbeats().items() if b.get("pid") == str(f.restarted_pid)]
        if seats:
            f.rejoined_seat = seats[0]
            show.say(f"pid {f.restarted_pid} took back seat {f.rejoined_seat} from its ledger")


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
            _after_kill(cluster, citizens, failover, show)
        if not running and failover is not None and failover.rejoined_seat is not None:
            break                        # done: a new president, and the dead priest is back
        if not running:
            give_up = give_up or time.monotonic() + FAILOVER_TIMEOUT_S
            if time.monotonic() > give_up:
                break
        cluster.check_alive()
        rate = citizens.passed() / max(1e-9, time.monotonic() - citizens.started)
        president = cluster.president()
        show.progress(f"passed {citizens.passed()}/{len(citizens.bodies)}  {rate:.0f}/s  "
                      f"president: seat {president[0] if president else '-'}")
        time.sleep(POLL_S)
    show.clear()
    if failover is not None and failover.elected_s is not None:
        elected = failover.killed_at + failover.elected_s
        i = bisect.bisect_right(citizens.finished, elected)    # completions are in time order
        if i < len(citizens.finished):
            failover.resumed_s = citizens.finished[i] - failover.killed_at
    return failover


def summary(args: argparse.Namespace, where: str, citizens: Citizens, failover: Failover | None,
            verdict: Verdict) -> list[str]:
    """The final lines; a failover that did not complete is added to the verdict's problems."""
    lines = [f"demo: {args.priests} priests, {len(citizens.bodies)} petitions from "
             f"{args.citizens} citizens, messengers: {where}"]
    if failover is None or failover.new_seat is None:
        verdict.other.append("failover: no new president took over within "
                             f"{FAILOVER_TIMEOUT_S:g} s of killing the old one")
        lines.append("failover: FAILED (no new president)")
    else:
        resumed = "" if failover.resumed_s is None else \
            f"; petitions passing again after {failover.resumed_s:.2f} s"
        lines.append(f"failover: president seat {failover.old_seat} killed (SIGKILL) after "
                     f"{failover.at_passed} petitions; new president seat {failover.new_seat} "
                     f"after {failover.elected_s:.2f} s{resumed}")
        if failover.rejoined_seat is None:
            verdict.other.append("restart: the killed priest, restarted, never took a seat")
            lines.append("restart: FAILED (the restarted priest never took a seat)")
        else:
            lines.append(f"restart: the killed priest, restarted, took back seat "
                         f"{failover.rejoined_seat} from its ledger")
    lines.append(f"law: {len(verdict.law)} decrees (every priest's ledger read from disk)")
    agree = "FAILED" if verdict.disagreements else "ok"
    lines.append(f"agreement: {agree}: {verdict.agreeing}/{args.priests} ledgers hold the same "
                 f"law of {len(verdict.law)} decrees")
    once = len(citizens.bodies) - verdict.lost - verdict.twice
    lines.append(f"petitions: {'FAILED' if verdict.petition_problems else 'ok'}: "
                 f"{once} passed once each, {verdict.lost} lost, {verdict.twice} passed twice")
    elapsed = max(1e-9, (citizens.ended or time.monotonic()) - citizens.started)
    lines.append(f"throughput: {citizens.passed() / elapsed:.1f} petitions/s "
                 f"({citizens.passed()} in {elapsed:.1f} s); latency "
                 f"p50 {percentile(citizens.latencies, 50) * 1000:.1f} ms, "
                 f"p99 {percentile(citizens.latencies, 99) * 1000:.1f} ms")
    lines += [f"problem: {p}" for p in verdict.problems]
    lines.append("result: ok" if verdict.ok else f"result: FAILED ({len(verdict.problems)} "
                 "problems)")
    return lines


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
    used = sorted(settings.ledger_dir.glob(f"{parliament}-seat-*.ledger"))
    if used:
        from .cli import CliError
        raise CliError(f"{settings.ledger_dir} already holds ledgers of parliament "
                       f"{parliament!r} ({used[0].name}, ...): the demo needs a fresh "
                       "parliament; leave out --parliament, or use an empty --ledger-dir")
    show.say(f"messengers: {messengers.label} at {redact(messengers.url)}")
    cluster = Cluster(settings, messengers.redis, work / "logs")
    stack.append(cluster)
    cluster.start()
    show.say(f"started a god and {args.priests} priests of parliament {parliament!r}; "
             f"ledgers in {settings.ledger_dir}")
    first = cluster.wait_seated(SEAT_TIMEOUT_S)
    show.say(f"all {args.priests} seats taken; seat {first} presides")
    citizens = Citizens(messengers.url, parliament, args.petitions, args.citizens, args.timeout)
    stack.append(citizens)
    failover = drive(cluster, citizens, show)
    top = max(citizens.told.values(), default=-1)
    if not cluster.caught_up(top, CATCH_UP_TIMEOUT_S):
        show.say(f"some priests did not learn every decree within {CATCH_UP_TIMEOUT_S:g} s")
    show.say("stopping the priests (SIGTERM) and reading every ledger")
    cluster.stop()
    verdict = Verdict()
    check_laws(read_laws(settings, args.priests), verdict)
    check_petitions(verdict, citizens.bodies, citizens.told, citizens.errors)
    where = "embedded fakeredis" if messengers.server else redact(messengers.url)
    lines = summary(args, where, citizens, failover, verdict)
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
