"""The ``status`` table: who sits, who is alive, who presides, how far behind each priest is."""

from __future__ import annotations

from typing import Any

from .keys import Keys

COLUMNS = ("seat", "alive", "president", "ballot", "known", "lag")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def status_rows(redis: Any, keys: Keys, seats: int | None = None) -> list[dict[str, str]]:
    """One row per seat from the priests' heartbeats (a missing heartbeat: not alive).

    ``known`` is the first decree number the priest does not know passed; ``lag`` is
    how many decrees it is behind the priest that knows the most.
    """
    if seats is None:
        raw = redis.hget(keys.config(), "seats")
        seats = int(raw) if raw is not None else 0
    pipe = redis.pipeline(transaction=False)
    for seat in range(seats):
        pipe.hgetall(keys.heartbeat(seat))
    beats = [{_text(k): _text(v) for k, v in (b or {}).items()} for b in pipe.execute()]
    top = max((int(b.get("known", 0)) for b in beats if b), default=0)
    rows = []
    for seat, beat in enumerate(beats):
        alive = bool(beat)
        rows.append({
            "seat": str(seat),
            "alive": "yes" if alive else "no",
            "president": "yes" if beat.get("president") == "1" else "",
            "ballot": beat.get("next_bal", "-"),
            "known": beat.get("known", "-"),
            "lag": str(top - int(beat["known"])) if alive else "-",
        })
    return rows


def format_table(rows: list[dict[str, str]]) -> str:
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
