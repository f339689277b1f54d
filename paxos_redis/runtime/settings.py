"""One frozen settings object, from command-line flags and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from paxos_redis.errors import ProtocolError, SettingsError
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.membership import name as priest_name
from paxos_redis.protocol.membership import parse_name
from paxos_redis.protocol.rules import MAX_DECREE_BYTES, Rules

DEFAULT_URL = "redis://127.0.0.1:6379/0"


#: settings with no command-line flag: errors name their environment variable
ENV_ONLY = {"tick_ms": "PAXOS_TICK_MS", "max_decree_bytes": "PAXOS_MAX_DECREE_BYTES"}


def parse_rules(text: str, base: Rules | None = None) -> Rules:
    """``base`` (the defaults of :class:`Rules`, which a priest runs by unless PAXOS_RULES
    changes some of them) with the changes of ``text``: ``name=value`` pairs separated by
    commas (``window_bytes=16777216,batch=128``; ``thrifty`` takes true/false)."""
    names = [f.name for f in fields(Rules)]
    changes: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = (x.strip() for x in part.partition("="))
        if not sep or name not in names:
            raise SettingsError(f"PAXOS_RULES: {part!r} is not name=value with one of "
                                f"{', '.join(names)}")
        if name == "thrifty":
            if value.lower() not in ("true", "false", "1", "0"):
                raise SettingsError(f"PAXOS_RULES: thrifty must be true or false, got {value!r}")
            changes[name] = value.lower() in ("true", "1")
        else:
            changes[name] = _int(f"PAXOS_RULES {name}", value, 1)
    try:
        return replace(Rules() if base is None else base, **changes)
    except ValueError as exc:
        raise SettingsError(f"PAXOS_RULES: {exc}") from None


def rules_changed(rules: Rules, base: Rules | None = None) -> str:
    """The rules that differ from ``base`` (the defaults of :class:`Rules`), as
    ``parse_rules`` takes them ("" if none)."""
    base = Rules() if base is None else base
    return ",".join(f"{f.name}={str(getattr(rules, f.name)).lower()}" for f in fields(Rules)
                    if getattr(rules, f.name) != getattr(base, f.name))


def _int(name: str, value: Any, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {number}")
    return number


@dataclass(frozen=True)
class Settings:
    """Everything a priest, god or citizen process needs to know, validated once."""

    redis_url: str = DEFAULT_URL
    parliament: str = "default"
    ledger_dir: Path = Path("ledgers")
    #: the priest to run: the identity (hex) of a ledger in ledger_dir; None picks one
    identity: str | None = None
    #: god: how many priests should vote (it admits and removes priests to get there)
    priests: int | None = None
    secret: str | None = None
    #: the worker's clock: one core tick every tick_ms
    tick_ms: int = 20
    heartbeat_ms: int = 100
    heartbeat_ttl_ms: int = 1000
    #: entries read per XREADGROUP
    read_count: int = 1024
    #: stream length kept (approximate MAXLEN)
    maxlen: int = 100_000
    #: the largest decree body this priest votes for or takes as a petition
    max_decree_bytes: int = MAX_DECREE_BYTES
    #: the rules of procedure (:class:`Rules`' defaults unless PAXOS_RULES changes some)
    rules: Rules = Rules()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ledger_dir", Path(self.ledger_dir))
        try:
            Keys(self.parliament)
        except ValueError as exc:
            raise SettingsError(f"--parliament: {exc}") from None
        if self.identity is not None:
            try:
                parse_name(self.identity)
            except ProtocolError as exc:
                raise SettingsError(f"--identity: {exc}") from None
        if self.priests is not None:
            _int("--priests", self.priests, 1)
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"--redis must be a redis://, rediss:// or unix:// URL, "
                                f"got {self.redis_url.split('@')[-1]!r}")
        for name in ("tick_ms", "heartbeat_ms", "heartbeat_ttl_ms", "read_count", "maxlen",
                     "max_decree_bytes"):
            _int(name, getattr(self, name), 1)

    @property
    def keys(self) -> Keys:
        return Keys(self.parliament)

    def ledger_path(self, priest: int) -> Path:
        return self.ledger_dir / f"{self.parliament}-{priest_name(priest)}.ledger"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **flags: Any) -> Settings:
        """Flags win over the environment (REDIS_URL, PAXOS_*), which wins over defaults."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for name, var in (("redis_url", "REDIS_URL"), ("parliament", "PAXOS_PARLIAMENT"),
                          ("ledger_dir", "PAXOS_LEDGER_DIR"), ("identity", "PAXOS_IDENTITY"),
                          ("priests", "PAXOS_PRIESTS"), ("secret", "PAXOS_SECRET"),
                          ("tick_ms", "PAXOS_TICK_MS"),
                          ("max_decree_bytes", "PAXOS_MAX_DECREE_BYTES")):
            if env.get(var):
                values[name] = env[var]
        values.update({k: v for k, v in flags.items() if v is not None})
        for key in ("priests", "tick_ms", "max_decree_bytes"):
            if key in values:
                label = ENV_ONLY.get(key, f"--{key.replace('_', '-')}")
                values[key] = _int(label, values[key], 1)
        if "ledger_dir" in values:
            values["ledger_dir"] = Path(values["ledger_dir"])
        if env.get("PAXOS_RULES") and "rules" not in values:
            values["rules"] = parse_rules(env["PAXOS_RULES"])
        return cls(**values)
