"""The ``status`` table: who votes, who listens, who presides, how far behind each priest is."""

from __future__ import annotations

from typing import Any

from paxos_redis.messengers.heartbeat import Beat, president_of, read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.membership import name

COLUMNS = ("priest", "role", "alive", "president", "ballot", "known", "lag", "host", "pid")


def _ballot(text: str) -> str:
    """``round.identity`` with the identity in hex, as priests are named."""
    rnd, _, priest = text.partition(".")
    try:
        return f"{rnd}.{name(int(priest))}" if int(priest) > 0 else "-"
    except ValueError:
        return text


def status_rows(redis: Any, keys: Keys) -> tuple[str, list[dict[str, str]]]:
    """A summary line and one row per priest: every live one from the roster, and every
    member the president's law names that is not alive.

    ``known`` is the first decree number the priest does not know passed; ``lag`` is how
    many decrees it is behind the priest that knows the most (a listener catching up shows
    how far it has to go).
    """
    beats = read_roster(redis, keys)
    president = president_of(beats)
    view: Beat | None = president or max(beats.values(), key=lambda b: b.known, default=None)
    members = set(view.members) if view is not None else set()
    top = max((b.known for b in beats.values()), default=0)
    rows = []
    for priest in sorted(set(beats) | members, key=lambda p: (p not in members, name(p))):
        beat = beats.get(priest)
        role = "voter" if priest in members else (beat.role if beat else "-")
        rows.append({
            "priest": name(priest),
            "role": role,
            "alive": "yes" if beat else "no",
            "president": "yes" if beat and beat.president else "",
            "ballot": _ballot(beat.next_bal) if beat else "-",
            "known": str(beat.known) if beat else "-",
            "lag": str(top - beat.known) if beat else "-",
            "host": beat.host if beat else "-",
            "pid": str(beat.pid) if beat else "-",
        })
    if view is None:
        return "", rows
    listening = sum(1 for b in beats.values() if b.priest not in members)
    summary = (f"parliament {keys.parliament!r}, genesis {view.genesis or '-'}: "
               f"{len(members)} voters ({sum(1 for m in members if m in beats)} alive), "
               f"{listening} other priests; membership of decree {view.members_at}")
    if view.known < view.pending_until:
        summary += f"; a change takes effect at decree {view.pending_until}"
    if president is None:
        summary += "; no president acts"
    return summary, rows


def format_table(rows: list[dict[str, str]]) -> str:
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
