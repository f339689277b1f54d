"""Reading a ledger aloud: one line per record, and the law as ``N,DECREE`` lines."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from paxos_redis.errors import LedgerError
from paxos_redis.protocol.decree import Decree, in_citizens_law
from paxos_redis.protocol.law import Dedup
from paxos_redis.protocol.membership import name as priest_name
from paxos_redis.protocol.records import Archived, Identity, Members, Passed, Promise, Record, Tried, Votes
from paxos_redis.protocol.rules import Rules


def _show(data: bytes, *, spaces: bool = True) -> str:
    """UTF-8 when printable (and unambiguous), else ``hex:...``."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "hex:" + data.hex()
    plain = text.isprintable() and not text.startswith("hex:") and (spaces or " " not in text)
    return text if plain else "hex:" + data.hex()


def _decree(decree: Decree) -> str:
    if decree.is_olive_day:
        return "olive-day"
    return f"id={_show(decree.petition.encode(), spaces=False)} decree={_show(decree.body)}"


def _entries(head: str, entries: tuple[tuple[int, Decree], ...]) -> list[str]:
    return [f"{head}n={n} {_decree(d)}" for n, d in entries] or [f"{head}(no decrees)"]


def _identity(r: Identity) -> list[str]:
    name = _show(r.parliament.encode(), spaces=False)
    return [f"identity parliament={name} priest={priest_name(r.priest)}"]


def _members(r: Members) -> list[str]:
    m = r.membership
    configs = " ".join(f"from={start}:{','.join(priest_name(p) for p in sorted(ids))}"
                       for start, ids in m.configs)
    return [f"members at={r.at} genesis={m.genesis or '-'} alpha={m.alpha} "
            f"changed_at={m.changed_at} pending_until={m.pending_until} {configs}".rstrip()]


_DUMP: dict[type, Callable[[Any], list[str]]] = {
    Identity: _identity,
    Members: _members,
    Promise: lambda r: [f"promise {r.ballot}"],
    Tried: lambda r: [f"tried {r.ballot}"],
    Votes: lambda r: _entries(f"vote {r.ballot} ", r.entries),
    Passed: lambda r: _entries("passed ", r.entries),
    Archived: lambda r: [f"archived upto={r.upto}"],
}


def dump(records: Iterable[Record]) -> str:
    """The ledger, one line per record (a batch of votes or passed decrees: one per decree)."""
    return "".join(line + "\n" for record in records for line in _DUMP[type(record)](record))


def law_lines(records: Iterable[Record], *, dedup_window: int | None = None) -> list[str]:
    """The law as ``N,DECREE`` lines by decree number, for ``diff`` between priests.

    Olive-day decrees and the Parliament's own no-ops (sync barriers) are left out, as is
    a petition already passed at a lower number within the dedup window (the law holds a
    retried petition once; ``dedup_window`` defaults to the Rules' one, as priests use).
    Two different decrees passed at one number break the Parliament's one promise, so
    that raises :class:`LedgerError`.
    """
    passed: dict[int, Decree] = {}
    for record in records:
        for n, decree in record.entries if isinstance(record, Passed) else ():
            if passed.setdefault(n, decree) != decree:
                raise LedgerError(f"decree {n} passed twice, as {_decree(passed[n])} and as "
                                  f"{_decree(decree)}: two laws at one number, safety violated")
    seen = Dedup(Rules().dedup_window if dedup_window is None else dedup_window)
    lines = []
    for n in sorted(passed):
        decree = passed[n]
        if in_citizens_law(n, seen.first(n, decree.petition), decree):
            lines.append(law_line(n, decree.body))
    return lines


def law_line(n: int, body: bytes) -> str:
    """One line of the law as the CLI prints it: ``N,DECREE`` (UTF-8 text, else hex:...)."""
    return f"{n},{_show(body)}"
