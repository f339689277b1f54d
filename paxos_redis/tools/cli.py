"""``paxos-redis``: run priests and gods, petition decrees, read the law, inspect ledgers."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from redis.exceptions import AuthenticationError, RedisError

from paxos_redis.citizen.client import Client
from paxos_redis.errors import CliError, MembersError, PaxosError, SettingsError
from paxos_redis.messengers.acl import parse_version, setuser_line
from paxos_redis.messengers.connection import check, connect, redact
from paxos_redis.messengers.heartbeat import read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.messengers.wire import Wire
from paxos_redis.protocol import LawConflict, ProtocolError
from paxos_redis.protocol.membership import parse_name
from paxos_redis.runtime.god import God
from paxos_redis.runtime.identity import open_ledger
from paxos_redis.runtime.members import change, listing
from paxos_redis.runtime.settings import Settings
from paxos_redis.runtime.status import format_table, status_rows
from paxos_redis.runtime.worker import Worker
from paxos_redis.storage.ledger import LedgerError, dump, law_line, law_lines, replay
from paxos_redis.tools import demo
from paxos_redis.tools.bench import command as bench_command

log = logging.getLogger("paxos_redis")

#: the cyclic collector's thresholds in a priest process.  A priest allocates tens of
#: short-lived tuples per decree and makes no garbage cycles on its path, so Python's
#: default (a young-generation pass every 700 allocations) spends its time finding none;
#: older generations still get full passes, every 10 and 100 young ones.
PRIEST_GC = (50_000, 20, 10)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", dest="redis_url", metavar="URL",
                        help="Redis URL (env REDIS_URL; default redis://127.0.0.1:6379/0)")
    parser.add_argument("--parliament", help="parliament name (env PAXOS_PARLIAMENT; "
                        "default 'default')")
    parser.add_argument("--ledger-dir", help="directory of the priests' ledgers "
                        "(env PAXOS_LEDGER_DIR; default ./ledgers)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paxos-redis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("priest", help="run one priest (a free ledger in --ledger-dir, or a new "
                       "priest)")
    _common(p)
    p.add_argument("--identity", metavar="HEX", help="run the priest of this ledger in "
                   "--ledger-dir (env PAXOS_IDENTITY; default: the first no process holds, "
                   "else a new priest)")
    p = sub.add_parser("god", help="found the parliament, call ballots, keep N voters")
    _common(p)
    p.add_argument("--priests", help="how many priests should vote (env PAXOS_PRIESTS)")
    p.add_argument("--remove-after", type=float, default=30.0, metavar="SECONDS",
                   help="remove a voter gone this long, so another can take its place "
                   "(default 30)")
    p = sub.add_parser("members", help="list the members; admit or remove a priest by decree")
    _common(p)
    p.add_argument("action", nargs="?", choices=("list", "add", "remove"), default="list")
    p.add_argument("priest", nargs="?", metavar="HEX", help="the priest's identity")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for the change to take effect (default 30)")
    p = sub.add_parser("petition", help="pass decrees; prints N,DECREE for each")
    _common(p)
    p.add_argument("decrees", nargs="+", metavar="DECREE", help="UTF-8 text")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    p = sub.add_parser("law", help="print the passed law as N,DECREE lines")
    _common(p)
    p.add_argument("--from", dest="start", type=int, default=0, help="first decree number")
    p.add_argument("--to", dest="stop", type=int, default=None, help="stop before this number")
    p.add_argument("--linearizable", action="store_true",
                   help="include every decree passed before this command started")
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("status", help="a table of priests: voters, listeners, president, lag")
    _common(p)
    p = sub.add_parser("ledger", help="dump one ledger file")
    p.add_argument("--file", required=True, type=Path, help="the ledger file")
    p.add_argument("--law", action="store_true", help="only its law, as N,DECREE lines")
    p = sub.add_parser("acl", help="print the ACL SETUSER line of a least-privilege Redis user")
    p.add_argument("--parliament", help="parliament name (env PAXOS_PARLIAMENT; default 'default')")
    p.add_argument("--user", help="ACL user name (default paxos-PARLIAMENT)")
    p.add_argument("--password-env", metavar="VAR", help="read the password from environment "
                   "variable VAR; printed only as its SHA-256 (#...); without it the user "
                   "has no password and cannot log in until you add one")
    p.add_argument("--redis-version", default="7.2", metavar="X.Y",
                   help="the server's version (default 7.2: 7.2 or later); before 7.2 the "
                   "line leaves out CLIENT SETINFO, which older servers do not know")
    demo.add_parser(sub)
    bench_command.add_parser(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    flags = {k: getattr(args, k, None) for k in
             ("redis_url", "parliament", "ledger_dir", "identity", "priests")}
    return Settings.from_env(**flags)


def _redis(settings: Settings):  # type: ignore[no-untyped-def]
    client = connect(settings.redis_url)
    try:
        check(client, settings.redis_url)
    except AuthenticationError:
        raise
    except RedisError as exc:
        raise CliError(f"Redis at {redact(settings.redis_url)} is unreachable: {exc}") from None
    return client


def _stop_signals() -> threading.Event:
    """SIGTERM and SIGINT from here on ask for a clean stop (exit 0), also while the
    process is still opening its ledger or waiting for Redis."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    return stopping


def cmd_priest(args: argparse.Namespace) -> int:
    stopping = _stop_signals()
    settings = _settings(args)
    redis = _redis(settings)
    worker = Worker(settings, redis, open_ledger(settings), stopping=stopping)
    gc.set_threshold(*PRIEST_GC)
    worker.run()
    return 0


def cmd_god(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.priests is None:
        raise CliError("god needs the number of voting priests: --priests N (or env "
                       "PAXOS_PRIESTS)")
    if args.remove_after <= 0:
        raise CliError(f"--remove-after must be positive, got {args.remove_after:g}")
    stopping = _stop_signals()
    god = God(settings, _redis(settings), remove_after_s=args.remove_after, stopping=stopping)
    god.provision()
    log.info("god: parliament %r, %d voters wanted; watching", settings.parliament,
             settings.priests)
    god.run()
    return 0


def cmd_members(args: argparse.Namespace) -> int:
    settings = _settings(args)
    redis = _redis(settings)
    if args.action == "list":
        lines = listing(read_roster(redis, settings.keys))
        if not lines:
            raise CliError(f"no priest of parliament {settings.parliament!r} beats in this "
                           "Redis")
        print("\n".join(lines))
        return 0
    if args.priest is None:
        raise CliError(f"members {args.action} needs the priest's identity (12 hex digits, as "
                       "paxos-redis status shows it)")
    if args.timeout <= 0:
        raise CliError(f"--timeout must be positive, got {args.timeout:g}")
    try:
        priest = parse_name(args.priest)
    except ProtocolError as exc:
        raise CliError(str(exc)) from None
    op = "admit" if args.action == "add" else "remove"
    print(change(redis, settings.keys, Wire(settings.parliament, settings.secret), op, priest,
                 timeout=args.timeout))
    return 0


def _client(settings: Settings):  # type: ignore[no-untyped-def]
    return Client(_redis(settings), settings.parliament,
                  max_decree_bytes=settings.max_decree_bytes)


def cmd_petition(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _client(settings) as client:
        numbers = client.petition_many([d.encode() for d in args.decrees], timeout=args.timeout)
    for n, decree in zip(numbers, args.decrees, strict=True):
        print(f"{n},{decree}")
    return 0


def cmd_law(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _client(settings) as client:
        law = client.law(args.start, args.stop, linearizable=args.linearizable,
                         timeout=args.timeout)
    for n, body in law:
        print(law_line(n, body))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    summary, rows = status_rows(_redis(settings), settings.keys)
    if not rows:
        raise CliError(f"no priest of parliament {settings.parliament!r} beats in this Redis "
                       "(start priests and a god: paxos-redis god --priests N)")
    if summary:
        print(summary)
    print(format_table(rows))
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read ledger {args.file}: {exc.strerror}") from None
    records, torn = replay(args.file, data)         # read-only: no lock, never truncates
    if args.law:
        for line in law_lines(records):
            print(line)
    else:
        sys.stdout.write(dump(records))
        if torn is not None:
            print(f"# torn tail: {torn.dropped} bytes at offset {torn.offset} ({torn.problem})")
    return 0


def cmd_acl(args: argparse.Namespace) -> int:
    import os

    parliament = args.parliament or os.environ.get("PAXOS_PARLIAMENT") or "default"
    try:
        version = parse_version(args.redis_version)
        user = args.user or f"paxos-{Keys(parliament).parliament}"
        password = None
        if args.password_env:
            password = os.environ.get(args.password_env)
            if not password:
                raise CliError(f"--password-env {args.password_env}: that environment variable "
                               "is not set or empty; export the password in it first")
        line = setuser_line(user, parliament, password, redis_version=version)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(line)
    if password is None:
        print(f"paxos-redis: note: user {user!r} has no password and cannot log in until you "
              f"add one (ACL SETUSER {user} >PASSWORD) or re-run with --password-env VAR",
              file=sys.stderr)
    return 0


COMMANDS = {"priest": cmd_priest, "god": cmd_god, "members": cmd_members,
            "petition": cmd_petition, "law": cmd_law,
            "status": cmd_status, "ledger": cmd_ledger, "acl": cmd_acl, "demo": demo.run,
            "bench": bench_command.run}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (CliError, PaxosError, LedgerError, SettingsError, ProtocolError,
            AuthenticationError, MembersError, LawConflict) as exc:
        print(f"paxos-redis: error: {exc}", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(f"paxos-redis: error: Redis failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
