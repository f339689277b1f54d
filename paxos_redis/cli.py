"""``paxos-redis``: run priests and gods, petition decrees, read the law, inspect ledgers."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from redis.exceptions import AuthenticationError, RedisError

from . import demo
from .bench import command as bench_command
from .connection import check, connect, redact
from .errors import PaxosError
from .god import MembershipConflict
from .keys import Keys
from .ledger import LedgerError, dump, law_line, law_lines, replay
from .protocol import ProtocolError
from .settings import Settings, SettingsError

log = logging.getLogger("paxos_redis")

#: the cyclic collector's thresholds in a priest process.  A priest allocates tens of
#: short-lived tuples per decree and makes no garbage cycles on its path, so Python's
#: default (a young-generation pass every 700 allocations) spends its time finding none;
#: older generations still get full passes, every 10 and 100 young ones.
PRIEST_GC = (50_000, 20, 10)


class CliError(Exception):
    """A failure reported as one line, without a traceback."""


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
    p = sub.add_parser("priest", help="run one priest (takes the first free seat)")
    _common(p)
    p.add_argument("--seat", help="take this seat (env PAXOS_SEAT; default: first free)")
    p.add_argument("--priests", help="seats, if god has not provisioned them "
                   "(env PAXOS_PRIESTS)")
    p = sub.add_parser("god", help="provision the parliament and call ballots")
    _common(p)
    p.add_argument("--priests", help="number of seats (env PAXOS_PRIESTS)")
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
    p = sub.add_parser("status", help="a table of seats, presidents and lag")
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
             ("redis_url", "parliament", "ledger_dir", "seat", "priests")}
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


def cmd_priest(args: argparse.Namespace) -> int:
    from .seats import claim, seats_in_force
    from .worker import Worker
    settings = _settings(args)
    redis = _redis(settings)
    seats = seats_in_force(settings, redis, wait_s=30.0)
    worker = Worker(settings, redis, claim(settings, seats))
    gc.set_threshold(*PRIEST_GC)
    worker.run()
    return 0


def cmd_god(args: argparse.Namespace) -> int:
    from .god import God
    settings = _settings(args)
    if settings.priests is None:
        raise CliError("god needs the number of seats: --priests N (or env PAXOS_PRIESTS)")
    god = God(settings, _redis(settings))
    god.provision()
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: god.stop())
    log.info("god: parliament %r provisioned with %d seats; watching",
             settings.parliament, settings.priests)
    god.run()
    return 0


def _client(settings: Settings):  # type: ignore[no-untyped-def]
    from .client import Client
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
    from .status import format_table, status_rows
    settings = _settings(args)
    rows = status_rows(_redis(settings), settings.keys)
    if not rows:
        raise CliError(f"parliament {settings.parliament!r} is not provisioned in this Redis "
                       "(start a god: paxos-redis god --priests N)")
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

    from .acl import parse_version, setuser_line
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


COMMANDS = {"priest": cmd_priest, "god": cmd_god, "petition": cmd_petition, "law": cmd_law,
            "status": cmd_status, "ledger": cmd_ledger, "acl": cmd_acl, "demo": demo.run,
            "bench": bench_command.run}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (CliError, PaxosError, LedgerError, SettingsError, ProtocolError,
            AuthenticationError, MembershipConflict) as exc:
        print(f"paxos-redis: error: {exc}", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(f"paxos-redis: error: Redis failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
