"""A least-privilege Redis ACL user for one parliament.

Priests, gods and citizens of parliament ``NAME`` touch only keys under
``paxos:{NAME}:`` (see :mod:`paxos_redis.messengers.keys`: inboxes, petitions, replies, dead
letters, stats, heartbeats, the roster, identity claims, stamps, config, president,
the election lock) and only the commands in :data:`COMMANDS`.  :func:`rules` turns
that into ``ACL SETUSER`` rules: the user may run nothing else, reach no other key,
and subscribe to no channel.  The list was read off the code (priests' heartbeats and
claims, gods' founding and roster upkeep, citizens' reads of the roster, ``paxos-redis
members``) and checked against the server's ``ACL LOG``:
``tests/integration/test_acl.py`` runs a god, priests (founding, a listener admitted by
decree, ``members``) and citizens as such a user and asserts that the log stays empty.

AUTH and HELLO need no rule (Redis allows them to every connection).  ``SELECT``
is allowed so that URLs naming a database (``redis://host:6379/3``) work; key
rules apply in every database alike.  ``CLIENT SETINFO`` (sent by redis-py on every
connection) exists from Redis 7.2 on; an older server refuses a rule that names it,
so :func:`rules` leaves it out for ``redis_version < (7, 2)``.  ``SET ... GET`` (the
claim's renewal, which returns the holder it replaced) needs Redis 6.2 or later.

Not covered: rq.  An rq worker running :mod:`paxos_redis.citizen.jobs` keeps its queues
under ``rq:*`` and runs many more commands; give the worker's own Redis
connection a separate user for rq, and keep this one for the parliament.
"""

from __future__ import annotations

import hashlib
import re
import shlex

from paxos_redis.messengers.keys import Keys

#: Every command a priest, god or citizen sends, with why (``cmd|sub`` is one subcommand).
COMMANDS: dict[str, str] = {
    # connection: redis-py's handshake and health checks
    "ping": "connection.check() and redis-py's health checks",
    "client|setname": "Client.from_url and the demo name their connections",
    "client|setinfo": "redis-py announces its library name and version on connect",
    "select": "a URL naming a database other than 0",
    # streams: the messengers
    "xadd": "every message, petition, reply and dead letter (MAXLEN ~ trims)",
    "xreadgroup": "a priest reads its inbox, the president the petitions",
    "xread": "a citizen reads its reply stream",
    "xack": "a priest acknowledges what it handled",
    "xtrim": "a priest trims its own inbox below what it acknowledged (MINID ~)",
    "xautoclaim": "a restarted priest reclaims what its previous life left unacked",
    "xinfo|groups": "the president finds how far the petitions were read, to trim them",
    "xpending": "the president finds the oldest petition not yet answered, to trim below it",
    "xgroup|create": "god and priests create the consumer groups (MKSTREAM)",
    # hashes and strings: heartbeats, config, stats, claims, president, election lock
    "hset": "a priest's heartbeat; god writes the genesis into the config",
    "hsetnx": "god writes the founding (decree 0) into the config, once",
    "hget": "gods read the founding from the config",
    "hgetall": "heartbeats (gods, citizens, status, members, listeners)",
    "hincrby": "the dead-letter counter",
    "set": "a priest's claim to its identity (NX PX; renewed with SET ... PX ... GET, which "
           "returns the holder it replaced), the president's mark, god's election lock",
    "get": "a starting priest reads who holds its identity's claim (and a stopping one, "
           "whether it is still its own)",
    "pexpire": "the heartbeat's TTL",
    "expire": "the reply streams' TTL",
    "del": "a stopped priest's heartbeat and claim, a closed citizen's reply stream",
    # sorted sets: the roster of priests that beat, and their stamps
    "zadd": "a priest enters the roster with each heartbeat, and shows its stamp (ZADD GT)",
    "zrange": "the roster: gods, citizens, status, members and listeners find who beats",
    "zremrangebyscore": "gods drop priests silent for ten minutes from the roster",
    "zscore": "a starting priest reads the highest stamp its identity showed",
}

#: The first Redis with ``CLIENT SETINFO`` (older servers reject ``+client|setinfo``).
SETINFO_SINCE = (7, 2)

_USER = re.compile(r"[A-Za-z0-9_.:@\-]{1,128}")


def check_user(user: str) -> str:
    """``user`` if it is a plain ACL user name (it appears unquoted in the rule line)."""
    if not isinstance(user, str) or _USER.fullmatch(user) is None or user == "default":
        raise ValueError(
            f"invalid ACL user name {user!r}: use 1 to 128 characters from A-Z a-z 0-9 _ . : @ -"
            " (and not 'default', the user every unauthenticated connection is)")
    return user


def password_rule(password: str) -> str:
    """``#<sha256>``: the user's password as Redis stores it, safe to print and to log."""
    if not password:
        raise ValueError("an empty password would let anyone log in; give a real one")
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def parse_version(text: str) -> tuple[int, int]:
    """``"7.0.15"`` or ``"7.2"`` -> ``(7, 0)`` / ``(7, 2)``."""
    parts = text.strip().split(".")
    if len(parts) < 2 or not all(part.isdigit() for part in parts[:2]):
        raise ValueError(f"invalid Redis version {text!r}: give MAJOR.MINOR, e.g. 7.0 or 7.2.4 "
                         "(redis-server --version prints it)")
    return int(parts[0]), int(parts[1])


def rules(parliament: str, redis_version: tuple[int, int] = SETINFO_SINCE) -> list[str]:
    """The ACL rules (``ACL SETUSER <user> <rules...>``) for one parliament, no password.

    ``reset`` first, so applying them again replaces whatever the user had.
    """
    keys = Keys(parliament)
    commands = [c for c in COMMANDS if c != "client|setinfo" or redis_version >= SETINFO_SINCE]
    return ["reset", "on", "resetchannels", f"~{keys.pattern()}", "-@all",
            *(f"+{command}" for command in commands)]


def setuser(user: str, parliament: str, password: str | None = None, *,
            redis_version: tuple[int, int] = SETINFO_SINCE) -> list[str]:
    """The full command as arguments: ``["ACL", "SETUSER", user, "reset", "on", "#<sha256>",
    ...rules]``.

    Without ``password`` the user has none and cannot log in until one is added
    (``ACL SETUSER <user> >secret``): never a guessable placeholder.
    """
    line = ["ACL", "SETUSER", check_user(user), *rules(parliament, redis_version)]
    if password is not None:
        line.insert(5, password_rule(password))      # after "reset on": reset clears it
    return line


def setuser_line(user: str, parliament: str, password: str | None = None, *,
                 redis_version: tuple[int, int] = SETINFO_SINCE) -> str:
    """:func:`setuser` as one line for ``redis-cli`` (quoted only where a shell would need it)."""
    args = setuser(user, parliament, password, redis_version=redis_version)
    return " ".join(shlex.quote(arg) for arg in args)
