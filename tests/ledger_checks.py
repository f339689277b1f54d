"""Reading the ledgers a test parliament's priests left on disk, and checking their law.

:class:`LedgerChecks` is a part of :class:`processes.Parliament`: a priest's ledger is
``<its directory>/<parliament>-<identity>.ledger``, every ledger lies under ``root/ledgers``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from paxos_redis.protocol.membership import name as hex_name
from paxos_redis.storage.ledger import dump, replay


def ledger_files(directory: Path) -> list[Path]:
    """Every ledger file under ``directory`` (any depth)."""
    return sorted(directory.rglob("*.ledger"))


def ledger_records(path: Path) -> list[Any]:
    """A ledger's records, archived law included (read-only, as ``paxos-redis ledger``)."""
    return replay(path, path.read_bytes())[0]


class LedgerChecks:
    """The ledgers of a parliament ``name`` whose priests' directories are ``dirs``
    (identity -> directory), all under ``ledger_root``."""

    name: str
    dirs: dict[int, Path]
    ledger_root: Path

    def ledger_path(self, priest: int) -> Path:
        return self.dirs[priest] / f"{self.name}-{hex_name(priest)}.ledger"

    def ledgers(self) -> list[Path]:
        """Every ledger file under ``root/ledgers`` (of priests running, gone, or copies)."""
        return ledger_files(self.ledger_root)

    def ledger_dump(self, priest: int | Path) -> str:
        """The ledger's dump, as ``paxos-redis ledger --file F`` prints it (read here)."""
        path = priest if isinstance(priest, Path) else self.ledger_path(priest)
        return dump(ledger_records(path))

    def passed(self, priest: int | Path) -> dict[int, str]:
        """Every decree a ledger records as passed (raw, olive-days and repeats included):
        decree number -> its ``dump`` text (e.g. ``id=p-1 decree=p-1``)."""
        out: dict[int, str] = {}
        for line in self.ledger_dump(priest).splitlines():
            if line.startswith("passed n="):
                number, _, text = line[len("passed n="):].partition(" ")
                assert out.setdefault(int(number), text) == text, (
                    f"{priest}'s ledger passed two decrees at {number}: "
                    f"{out[int(number)]}, {text}")
        return out

    def check_one_law(self, ledgers: Iterable[Path | int] | None = None) -> dict[int, str]:
        """No two ledgers (default: every one under ``root/ledgers``) record different
        decrees passed at one number (the Parliament's one promise); returns their union."""
        union: dict[int, tuple[str, str]] = {}
        for ledger in (self.ledgers() if ledgers is None else ledgers):
            where = str(ledger) if isinstance(ledger, Path) else hex_name(ledger)
            for n, text in self.passed(ledger).items():
                first = union.setdefault(n, (where, text))
                assert first[1] == text, (f"decree {n} passed as {first[1]!r} in {first[0]} "
                                          f"but as {text!r} in {where}")
        return {n: text for n, (_, text) in union.items()}
