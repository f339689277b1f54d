"""The core is pure: no Redis, no files, no clock, no randomness, no adapters.

Two checks: a static one (``ast``: what every module under ``paxos_redis/protocol/`` says it
imports) and a dynamic one (a fresh interpreter imports the core and reports what got loaded,
and which imports the core's own modules executed).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import paxos_redis.protocol as core

CORE_DIR = Path(core.__file__).resolve().parent
PACKAGE_DIR = CORE_DIR.parent
FORBIDDEN = {"redis", "fakeredis", "rq", "os", "time", "random", "socket", "asyncio",
             "threading", "subprocess", "importlib", "io", "pathlib", "shutil", "select",
             "signal", "multiprocessing", "secrets", "uuid", "datetime", "logging", "tempfile"}
ALLOWED_INSIDE = "paxos_redis.protocol"
EXPECTED = {"ballot", "decree", "messages", "codec", "records", "effects", "law", "membership",
            "policy", "rules", "priest", "president", "errors", "__init__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(importer: str, is_package: bool, name: str | None, level: int) -> str:
    """The absolute module a (possibly relative) import statement names."""
    if level == 0:
        return name or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(source: str, importer: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) for every import statement, plus dynamic-import calls."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(importer, is_package, node.module, node.level)
            found.append((node.lineno, target))
            if node.module is None:              # from . import x: each x is a module
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("__import__", "exec", "eval", "open"):
            found.append((node.lineno, f"<call {node.func.id}>"))
    return found


def violations(found: list[tuple[int, str]]) -> list[str]:
    bad = []
    for line, target in found:
        top = target.split(".")[0]
        if target.startswith("<call"):
            bad.append(f"line {line}: {target}")
        elif top in FORBIDDEN:
            bad.append(f"line {line}: imports {target}")
        elif top == "paxos_redis" and not (target == ALLOWED_INSIDE
                                           or target.startswith(ALLOWED_INSIDE + ".")):
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
    ("from ..ledger import Ledger", "imports adapter paxos_redis.ledger"),
    ("from .. import messenger", "imports adapter paxos_redis.messenger"),
    ("import paxos_redis.worker", "imports adapter paxos_redis.worker"),
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
    adapters = [m for m in new if m.startswith("paxos_redis.")
                and not m.startswith(ALLOWED_INSIDE)]
    assert adapters == []


def executed_violations(calls: list) -> list[str]:
    found = []
    for importer, is_pkg, name, level, fromlist in calls:
        target = resolve(importer, is_pkg, name, level)
        found.append((0, target))
        if not name:
            found += [(0, f"{target}.{item}") for item in fromlist]
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
