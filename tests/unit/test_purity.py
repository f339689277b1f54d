"""The core is pure: no Redis, no files, no clock, no randomness, no adapters.

Two checks: a static one (``ast``: what every module under ``paxos_redis/protocol/`` says it
imports) and a dynamic one (a fresh interpreter imports the core and reports what got loaded,
and which imports the core's own modules executed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from import_graph import PACKAGE_DIR, Import, imports_of, module_name, resolve

CORE_DIR = PACKAGE_DIR / "protocol"
FORBIDDEN = {"redis", "fakeredis", "rq", "os", "time", "random", "socket", "asyncio",
             "threading", "subprocess", "importlib", "io", "pathlib", "shutil", "select",
             "signal", "multiprocessing", "secrets", "uuid", "datetime", "logging", "tempfile"}
#: the core, and the one exception tree every layer shares (itself standard library only)
ALLOWED_INSIDE = ("paxos_redis.protocol", "paxos_redis.errors")
EXPECTED = {"ballot", "decree", "messages", "codec", "records", "effects", "law", "membership",
            "policy", "rules", "priest", "president", "compaction", "__init__"}


def allowed_inside(target: str) -> bool:
    return any(target == inside or target.startswith(inside + ".") for inside in ALLOWED_INSIDE)


def violations(found: list[Import]) -> list[str]:
    bad = []
    for line, target in ((i.line, i.target) for i in found):
        top = target.split(".")[0]
        if target.startswith("<call"):
            bad.append(f"line {line}: {target}")
        elif top in FORBIDDEN:
            bad.append(f"line {line}: imports {target}")
        elif top == "paxos_redis" and not allowed_inside(target):
            bad.append(f"line {line}: imports adapter {target}")
    return bad


CORE_FILES = sorted(CORE_DIR.rglob("*.py"))


def test_the_walk_finds_every_core_module() -> None:
    assert EXPECTED <= {p.stem for p in CORE_FILES}


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(path: Path) -> None:
    found = imports_of(path.read_text(), module_name(path), path.name == "__init__.py")
    assert violations(found) == [], f"{path.name} is not pure"


@pytest.mark.parametrize("source, expected", [
    ("import redis", "imports redis"),
    ("import os.path", "imports os.path"),
    ("from time import monotonic", "imports time"),
    ("import random as r", "imports random"),
    ("from ..storage.ledger import Ledger", "imports adapter paxos_redis.storage.ledger"),
    ("from ..messengers import streams", "imports adapter paxos_redis.messengers"),
    ("import paxos_redis.runtime.worker", "imports adapter paxos_redis.runtime.worker"),
    ("from paxos_redis import god", "imports adapter paxos_redis"),
    ("m = __import__('socket')", "<call __import__>"),
    ("if True:\n    import threading", "imports threading"),
    ("def f():\n    from asyncio import sleep", "imports asyncio"),
])
def test_the_checker_catches_impure_imports(source: str, expected: str) -> None:
    bad = violations(imports_of(source, "paxos_redis.protocol.priest", False))
    assert any(expected in b for b in bad), bad


@pytest.mark.parametrize("source", [
    "from .ballot import Ballot", "from . import codec", "import struct",
    "from paxos_redis.errors import LawConflict",
    "from dataclasses import dataclass", "from collections import deque",
    "from collections.abc import Mapping", "from __future__ import annotations",
])
def test_the_checker_allows_the_core_and_plain_stdlib(source: str) -> None:
    assert violations(imports_of(source, "paxos_redis.protocol.priest", False)) == []


# ---------------------------------------------------------------- a fresh interpreter

PROBE = r"""
import builtins, json, sys, types
stub = sys.argv[1] == "stub"
before = set(sys.modules)
calls = []
real = builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__", "")
    if importer == "paxos_redis.protocol" or importer.startswith("paxos_redis.protocol."):
        is_pkg = "__path__" in (globals or {})
        calls.append([importer, is_pkg, name, level, list(fromlist or ())])
    return real(name, globals, locals, fromlist, level)

builtins.__import__ = spy
if stub:   # keep the package's own __init__ (the public API, with its adapters) out of it
    package = types.ModuleType("paxos_redis")
    package.__path__ = [sys.argv[2]]
    sys.modules["paxos_redis"] = package
import paxos_redis.protocol
builtins.__import__ = real
print(json.dumps({"new": sorted(set(sys.modules) - before), "calls": calls}))
"""


def probe(mode: str, package_dir: Path = PACKAGE_DIR) -> dict[str, list]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, mode, str(package_dir)],
        capture_output=True, text=True, timeout=60, cwd=str(PACKAGE_DIR.parent), check=False,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, list] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def stubbed() -> dict[str, list]:
    return probe("stub")


def test_fresh_import_of_the_core_loads_no_forbidden_module(stubbed: dict[str, list]) -> None:
    new = stubbed["new"]
    assert "paxos_redis.protocol.priest" in new           # the probe really imported the core
    loaded_forbidden = sorted(m for m in new if m.split(".")[0] in FORBIDDEN - {"os", "io"})
    assert loaded_forbidden == []
    adapters = [m for m in new if m.startswith("paxos_redis.") and not allowed_inside(m)]
    assert adapters == []


def executed_violations(calls: list) -> list[str]:
    found = []
    for importer, is_pkg, name, level, fromlist in calls:
        target = resolve(importer, is_pkg, name, level)
        found.append(Import(0, target, (), True))
        if not name:
            found += [Import(0, f"{target}.{item}", (), True) for item in fromlist]
    return violations(found)


@pytest.mark.parametrize("mode", ["stub", "package"])
def test_the_core_executes_no_impure_import(mode: str, stubbed: dict[str, list]) -> None:
    """Even a module already loaded at start-up (os, time) must not be imported by the core."""
    calls = stubbed["calls"] if mode == "stub" else probe("package")["calls"]
    assert calls, "the spy saw no imports at all"
    assert executed_violations(calls) == []
    importers = {importer for importer, *_ in calls}
    assert {f"paxos_redis.protocol.{m}" for m in ("priest", "president", "codec")} <= importers


def test_the_probe_catches_an_impure_core(tmp_path: Path) -> None:
    fake = tmp_path / "paxos_redis"
    (fake / "protocol").mkdir(parents=True)
    (fake / "ledger.py").write_text("import socket\nLedger = 1\n")
    (fake / "protocol" / "__init__.py").write_text("import time\nfrom . import priest\n")
    (fake / "protocol" / "priest.py").write_text("from ..ledger import Ledger\n")
    result = probe("stub", fake)
    assert "paxos_redis.ledger" in result["new"] and "socket" in result["new"]
    bad = executed_violations(result["calls"])
    assert any("imports time" in b for b in bad)
    assert any("adapter paxos_redis.ledger" in b for b in bad)
