"""The parliament a transcript drives (see :mod:`transcript`): priests of the real core,
a messenger that delivers, loses or holds messages only when told, and the rendering of
their messages and ledger records as text."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from paxos_redis.errors import LawConflict, PaxosError
from paxos_redis.protocol import (
    OLIVE_DAY,
    ZERO,
    Ballot,
    Change,
    Decree,
    Effects,
    Founding,
    Identity,
    Message,
    Priest,
    ProtocolError,
    Record,
    Rules,
)
from paxos_redis.protocol.membership import CHANGE, FOUNDING

PARLIAMENT = "senate"
GENESIS = "g1"
NAMES = "ABCDEFGH"

#: The rules of every transcript, each one given explicitly so that a default moving in
#: the core does not change what a transcript shows (``found`` may override any of them).
RULES: dict[str, Any] = {
    "window": 8,
    "window_bytes": 1 << 20,
    "batch": 8,
    "batch_bytes": 1 << 20,
    "resend_ticks": 2,
    "inquiry_ticks": 1,
    "retry_ticks": 4,
    "president_ticks": 8,
    "law_memory": 10_000,
    "law_memory_bytes": 64 << 20,
    "dedup_window": 1000,
    "announce": 1,
    "announce_ticks": 1,
    "thrifty": False,
}
ALPHA = 4096


class TranscriptError(Exception):
    """A transcript is malformed or names something that does not exist."""


# ---------------------------------------------------------------- rendering


class Renderer:
    """Messages, records and decrees as one line of text each, with priests by name."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def priest(self, identity: int) -> str:
        return self.names.get(identity, f"#{identity}")

    def ballot(self, ballot: Ballot) -> str:
        return "none" if ballot == ZERO else f"{ballot.round}.{self.priest(ballot.priest)}"

    def decree(self, decree: Decree) -> str:
        if decree == OLIVE_DAY:
            return "olive-day"
        pid = decree.petition
        try:
            if pid.startswith(FOUNDING):
                f = Founding.parse(decree)
                members = ",".join(self.priest(m) for m in sorted(f.members))
                return f"founding({members} alpha={f.alpha})"
            if pid.startswith(CHANGE):
                c = Change.parse(decree)
                return f"{c.op}({self.priest(c.priest)})"
        except ProtocolError:
            pass
        try:
            body = decree.body.decode()
            if not body.isprintable():
                raise ValueError
        except ValueError:
            body = "0x" + decree.body.hex()
        return f"{pid}({body})"

    def value(self, name: str, value: Any) -> str:
        if isinstance(value, Ballot):
            return self.ballot(value)
        if isinstance(value, Decree):
            return self.decree(value)
        if isinstance(value, int) and not isinstance(value, bool) and name in ("sender", "priest"):
            return self.priest(value)
        if isinstance(value, (tuple, list)):
            if value and all(isinstance(v, tuple) and v and isinstance(v[-1], Decree) for v in value):
                return "[" + ", ".join(self.entry(v) for v in value) + "]"
            return "[" + ", ".join(self.value(name, v) for v in value) + "]"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return "{" + self.fields(value) + "}"
        return str(value)

    def entry(self, item: tuple[Any, ...]) -> str:
        """``(n, decree)`` as ``n:decree``; a vote ``(n, ballot, decree)`` as ``n:decree@ballot``."""
        if len(item) == 2:
            return f"{item[0]}:{self.decree(item[1])}"
        if len(item) == 3 and isinstance(item[1], Ballot):
            return f"{item[0]}:{self.decree(item[2])}@{self.ballot(item[1])}"
        return "(" + ", ".join(self.value("", v) for v in item) + ")"

    def fields(self, obj: Any, skip: Sequence[str] = ()) -> str:
        """``name=value`` for each dataclass field not at its default (nor in ``skip``)."""
        out = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name in skip or not f.compare:
                continue
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
                continue
            out.append(f"{f.name}={self.value(f.name, value)}")
        return " ".join(out)

    def fields_of(self, item: Any) -> str:
        """A named tuple's or dataclass's fields, ``None`` ones left out."""
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return self.fields(item)
        pairs = item._asdict().items() if hasattr(item, "_asdict") else enumerate(item)
        return " ".join(f"{k}={self.value(str(k), v)}" for k, v in pairs if v is not None)

    def message(self, message: Message, receivers: Sequence[int]) -> str:
        to = ",".join(self.priest(r) for r in receivers)
        body = self.fields(message, skip=("sender",))
        return f"{type(message).__name__} {self.priest(message.sender)}->{to} {body}".rstrip()

    def record(self, record: Record) -> str:
        return f"{type(record).__name__} {self.fields(record)}".rstrip()

    def effects(self, who: str, eff: Effects) -> list[str]:
        """One step's effects, in the order the runtime carries them out: records made durable,
        messages sent (one line per message, its receivers together), decrees applied, and
        receipts for citizens.  Other fields of ``Effects`` are not shown."""
        lines = [f"{who}: write {self.record(r)}" for r in eff.records]
        grouped: list[tuple[Message, list[int]]] = []
        for dst, message in eff.messages:
            for sent, receivers in grouped:
                if sent == message and type(sent) is type(message):
                    receivers.append(dst)
                    break
            else:
                grouped.append((message, [dst]))
        lines += [f"{who}: send {self.message(m, rs)}" for m, rs in grouped]
        if eff.applied:
            applied = [str(e.n) if e.first == e.n else f"{e.n} (a retry of {e.first}: no-op)"
                       for e in eff.applied]
            lines.append(f"{who}: apply {', '.join(applied)}")
        for receipt in eff.receipts:
            lines.append(f"{who}: receipt {type(receipt).__name__} {self.fields(receipt)}")
        return lines


# ---------------------------------------------------------------- the world


@dataclass
class InFlight:
    src: int
    dst: int
    message: Message


class World:
    """Priests stepped by the transcript's commands, and a messenger between them that
    delivers, loses or holds messages only when told."""

    def __init__(self) -> None:
        self.priests: dict[int, Priest] = {}
        self.ledgers: dict[int, list[Record]] = {}
        self.down: set[int] = set()
        self.flight: list[InFlight] = []
        self.rules: Rules | None = None
        self.ids: dict[str, int] = {}
        self.render = Renderer({})
        self.commands: dict[str, Callable[[list[str]], list[str]]] = {
            "found": self.found, "start-ballot": self.start_ballot, "petition": self.petition,
            "propose": self.propose, "deliver": self.deliver, "drop": self.drop,
            "inflight": self.inflight, "tick": self.tick, "crash": self.crash,
            "restart": self.restart, "show": self.show, "ledger": self.ledger,
        }

    def run(self, command: str) -> list[str]:
        words = shlex.split(command)
        handler = self.commands.get(words[0])
        if handler is None:
            raise TranscriptError(f"unknown command {words[0]!r}; known: {', '.join(self.commands)}")
        if words[0] != "found" and not self.priests:
            raise TranscriptError("found the parliament first")
        return handler(words[1:])

    # -- naming
    def id_of(self, name: str) -> int:
        if name not in self.ids:
            raise TranscriptError(f"no priest {name!r}; the priests are {', '.join(self.ids)}")
        return self.ids[name]

    def name(self, identity: int) -> str:
        return self.render.priest(identity)

    def live(self, name: str) -> Priest:
        identity = self.id_of(name)
        if identity in self.down:
            raise TranscriptError(f"priest {name} is down: restart it first")
        return self.priests[identity]

    # -- stepping
    def step(self, identity: int, action: Callable[[Priest], Effects], indent: str = "") -> list[str]:
        """Run one step of a priest: its records go to its ledger, its messages in flight."""
        eff = action(self.priests[identity])
        self.ledgers[identity].extend(eff.records)
        for dst, message in eff.messages:
            assert message.sender == identity, "a priest sends as itself"
            assert dst != identity, "messages to oneself never leave the process"
            self.flight.append(InFlight(identity, dst, message))
        self.check_safety()
        return [indent + line for line in self.render.effects(self.name(identity), eff)]

    def check_safety(self) -> None:
        chosen: dict[int, tuple[Decree, int]] = {}
        for identity, priest in self.priests.items():
            for n, decree in priest.law.decrees.items():
                other = chosen.setdefault(n, (decree, identity))
                assert other[0] == decree, (
                    f"two decrees passed at {n}: {self.render.decree(other[0])} at "
                    f"{self.name(other[1])}, {self.render.decree(decree)} at {self.name(identity)}")

    # -- commands
    def found(self, args: list[str]) -> list[str]:
        if self.priests:
            raise TranscriptError("the parliament is founded already")
        if len(args) < 2 or not args[0].isdigit() or args[1] != "priests":
            raise TranscriptError("usage: found N priests [listeners=M] [alpha=K] [RULE=VALUE ...]")
        members, options = int(args[0]), dict(self.options(args[2:]))
        listeners = int(options.pop("listeners", "0"))
        alpha = int(options.pop("alpha", str(ALPHA)))
        rules = dict(RULES)
        for key, value in options.items():
            if key not in rules:
                raise TranscriptError(f"unknown rule {key!r}")
            rules[key] = value.lower() in ("1", "true", "yes") if key == "thrifty" else int(value)
        self.rules = Rules(**rules)
        if not 1 <= members + listeners <= len(NAMES):
            raise TranscriptError(f"at most {len(NAMES)} priests")
        self.ids = {NAMES[i]: i + 1 for i in range(members + listeners)}
        self.render = Renderer({identity: name for name, identity in self.ids.items()})
        decree = Founding(GENESIS, alpha, tuple(range(1, members + 1))).decree()
        out: list[str] = []
        for identity in self.ids.values():
            identity_record = Identity(PARLIAMENT, identity)
            self.priests[identity] = Priest.restore([identity_record], self.rules)
            self.ledgers[identity] = [identity_record]
            out += self.step(identity, lambda p: p.found(decree))
        return out

    @staticmethod
    def options(args: list[str]) -> list[tuple[str, str]]:
        pairs = []
        for arg in args:
            key, eq, value = arg.partition("=")
            if not eq:
                raise TranscriptError(f"expected KEY=VALUE, got {arg!r}")
            pairs.append((key, value))
        return pairs

    def start_ballot(self, args: list[str]) -> list[str]:
        (name,) = self.expect(args, 1, "start-ballot NAME")
        self.live(name)
        return self.step(self.id_of(name), lambda p: p.start_ballot())

    def petition(self, args: list[str]) -> list[str]:
        """The citizens' decrees, triaged by the priest first where it can (refused, or
        answered from the law: the answer is shown), the rest petitioned."""
        if not args:
            raise TranscriptError("usage: petition NAME pid=P body=B [pid=P body=B ...]")
        self.live(args[0])
        decrees, pid = [], None
        for key, value in self.options(args[1:]):
            if key == "pid" and pid is None:
                pid = value
            elif key == "body" and pid is not None:
                decrees.append(Decree(pid, value.encode()))
                pid = None
            else:
                raise TranscriptError("petition takes pairs pid=P body=B")
        if pid is not None or not decrees:
            raise TranscriptError("petition takes pairs pid=P body=B")
        priest, out = self.live(args[0]), []
        answered = {d.petition: priest.triage(d) for d in decrees}
        out += [f"{args[0]}: answer {self.render.fields_of(a)}"
                for a in answered.values() if a is not None]
        decrees = [d for d in decrees if answered[d.petition] is None]
        if decrees:
            out += self.step(self.id_of(args[0]), lambda p: p.petition(decrees))
        return out

    def propose(self, args: list[str]) -> list[str]:
        if len(args) not in (3, 4) or args[1] not in ("admit", "remove"):
            raise TranscriptError("usage: propose NAME admit|remove NAME [nonce=N]")
        self.live(args[0])
        nonce = dict(self.options(args[3:])).get("nonce", "n1")
        change = Change(args[1], self.id_of(args[2]))
        return self.step(self.id_of(args[0]), lambda p: p.propose(change, nonce))

    def matcher(self, args: list[str]) -> Callable[[InFlight], bool]:
        src = dst = None
        types: set[str] = set()
        for arg in args:
            if "->" in arg:
                a, _, b = arg.partition("->")
                src = None if a == "*" else self.id_of(a)
                dst = None if b == "*" else self.id_of(b)
            else:
                types.add(arg)

        def match(f: InFlight) -> bool:
            return (src is None or f.src == src) and (dst is None or f.dst == dst) \
                and (not types or type(f.message).__name__ in types)
        return match

    def deliver(self, args: list[str]) -> list[str]:
        match = self.matcher(args)
        now = [f for f in self.flight if match(f)]
        self.flight = [f for f in self.flight if not match(f)]
        out: list[str] = []
        for f in now:
            line = self.render.message(f.message, [f.dst])
            if f.dst in self.down or f.dst not in self.priests:
                out.append(f"{line}  (lost: {self.name(f.dst)} is down)")
                continue
            out.append(line)
            try:
                out += self.step(f.dst, lambda p: p.receive(f.message), indent="  ")
            except LawConflict:
                raise
            except PaxosError as exc:          # the priest refuses it, changing nothing
                out.append(f"  {self.name(f.dst)}: refuse ({type(exc).__name__}) {exc}")
        return out

    def drop(self, args: list[str]) -> list[str]:
        match = self.matcher(args)
        lost = [f for f in self.flight if match(f)]
        self.flight = [f for f in self.flight if not match(f)]
        return [f"lost {self.render.message(f.message, [f.dst])}" for f in lost]

    def inflight(self, args: list[str]) -> list[str]:
        self.expect(args, 0, "inflight")
        return [self.render.message(f.message, [f.dst]) for f in self.flight] or ["none"]

    def tick(self, args: list[str]) -> list[str]:
        options = dict(self.options([a for a in args if "=" in a]))
        times = int(options.pop("times", "1"))
        if options:
            raise TranscriptError(f"tick takes times=N only, got {options}")
        names = [a for a in args if "=" not in a]
        ids = [self.id_of(n) for n in names] or [i for i in self.priests if i not in self.down]
        out: list[str] = []
        for t in range(1, times + 1):
            lines: list[str] = []
            for identity in ids:
                if identity in self.down:
                    raise TranscriptError(f"priest {self.name(identity)} is down")
                lines += self.step(identity, lambda p: p.tick())
            if lines and times > 1:
                out.append(f"tick {t}:")
                lines = ["  " + line for line in lines]
            out += lines
        return out

    def crash(self, args: list[str]) -> list[str]:
        (name,) = self.expect(args, 1, "crash NAME")
        self.live(name)
        self.down.add(self.id_of(name))
        return [f"{name} is down; its ledger keeps {len(self.ledgers[self.id_of(name)])} records"]

    def restart(self, args: list[str]) -> list[str]:
        (name,) = self.expect(args, 1, "restart NAME")
        identity = self.id_of(name)
        if identity not in self.down:
            raise TranscriptError(f"priest {name} is not down")
        self.down.discard(identity)
        self.priests[identity] = Priest.restore(list(self.ledgers[identity]), self.rules)
        return [f"{name} restored from its ledger ({len(self.ledgers[identity])} records)",
                *self.state(identity)]

    def show(self, args: list[str]) -> list[str]:
        out: list[str] = []
        for name in args or list(self.ids):
            out += self.state(self.id_of(name))
        return out

    def state(self, identity: int) -> list[str]:
        p, r, name = self.priests[identity], self.render, self.name(identity)
        if identity in self.down:
            return [f"{name}: down"]
        votes = [r.entry((n, b, d)) for n, (b, d) in sorted(p.votes.items())]
        law = [r.entry((n, d)) for n, d in sorted(p.law.decrees.items()) if n > 0]
        return [f"{name}: next_bal={r.ballot(p.next_bal)} last_tried={r.ballot(p.last_tried)} "
                f"president={'yes' if p.is_president else 'no'} role={p.role} known={p.law.known}",
                f"{name}: votes=[{', '.join(votes)}]",
                f"{name}: law=[{', '.join(law)}]"]

    def ledger(self, args: list[str]) -> list[str]:
        (name,) = self.expect(args, 1, "ledger NAME")
        records = self.ledgers[self.id_of(name)]
        return [f"{name}: {i}: {self.render.record(r)}" for i, r in enumerate(records, 1)]

    @staticmethod
    def expect(args: list[str], count: int, usage: str) -> list[str]:
        if len(args) != count:
            raise TranscriptError(f"usage: {usage}")
        return args
