"""The folders are the layers, and imports only go down.

    tools        cli, demo, bench: may import anything; nothing imports them
    runtime      the priest worker, god, identity, settings, status, members
    citizen      Client, AsyncClient, jobs: never runtime or storage
    storage      ledger, archive, framing, replay, text
    messengers   keys, connection, streams, wire, acl, heartbeat, the citizens' fields
    protocol     the Synod and all it decides: the standard library only (test_purity)
    errors       the one exception tree: the standard library only

Also: no import circles, no imports hidden in a function or an ``if`` (a lazy import
dodges a circle rather than removing it), and no private name taken from another module.
"""

from __future__ import annotations

import ast

import pytest
from import_graph import Import, imports_by_module, imports_of, package_modules

#: what each layer may import from the package (besides itself)
MAY_IMPORT = {
    "errors": set(),
    "protocol": {"errors"},
    "storage": {"errors", "protocol"},
    "messengers": {"errors", "protocol"},
    "runtime": {"errors", "protocol", "storage", "messengers"},
    "citizen": {"errors", "protocol", "messengers"},
    "tools": {"errors", "protocol", "storage", "messengers", "runtime", "citizen", ""},
    "": {"errors", "citizen"},                  # the package itself: the public API
}
LAYERS = set(MAY_IMPORT) - {""}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward(importer: str, found: list[Import]) -> list[str]:
    """Imports of ``importer`` that go up or sideways across layers."""
    mine = layer(importer)
    bad = []
    for imp in found:
        if imp.target.split(".")[0] != "paxos_redis":
            continue
        theirs = layer(imp.target)
        if theirs != mine and theirs not in MAY_IMPORT[mine]:
            bad.append(f"{importer} line {imp.line}: {mine or 'paxos_redis'} imports "
                       f"{imp.target} ({theirs or 'the package'})")
    return bad


def lazy(importer: str, found: list[Import]) -> list[str]:
    return [f"{importer} line {imp.line}: imports {imp.target} inside a block" for imp in found
            if not imp.top and imp.target.split(".")[0] == "paxos_redis"]


def private(importer: str, found: list[Import]) -> list[str]:
    return [f"{importer} line {imp.line}: takes {name} from {imp.target}" for imp in found
            if imp.target.split(".")[0] == "paxos_redis" and imp.target != importer
            for name in imp.names if name.startswith("_") and not name.startswith("__")]


def private_attributes(importer: str, source: str) -> list[str]:
    """``module._name`` where ``module`` is one of the package's modules imported whole."""
    tree = ast.parse(source)
    modules = {alias.asname or alias.name.split(".")[0]: alias.name
               for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names if alias.name.startswith("paxos_redis")}
    modules |= {alias.asname or alias.name: f"{node.module}.{alias.name}"
                for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module and node.module.startswith("paxos_redis")
                for alias in node.names if f"{node.module}.{alias.name}" in package_modules()}
    return [f"{importer} line {node.lineno}: {modules[node.value.id]}.{node.attr}"
            for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id in modules
            and node.attr.startswith("_") and not node.attr.startswith("__")]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            component.append(v)
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def graph_of(imports: dict[str, list[Import]]) -> dict[str, set[str]]:
    return {importer: {imp.target for imp in found if imp.target in imports
                       and imp.target != importer} for importer, found in imports.items()}


IMPORTS = imports_by_module()


def test_every_module_sits_in_a_layer() -> None:
    assert {layer(m) for m in IMPORTS} == set(MAY_IMPORT)
    assert len(IMPORTS) > 40


@pytest.mark.parametrize("module", sorted(IMPORTS))
def test_imports_go_down_never_lazily_never_private(module: str) -> None:
    found = IMPORTS[module]
    source = package_modules()[module].read_text()
    assert upward(module, found) + lazy(module, found) + private(module, found) \
        + private_attributes(module, source) == []


def test_no_import_circles() -> None:
    assert circles(graph_of(IMPORTS)) == []


# ------------------------------------------------------------------ the checks can fail

@pytest.mark.parametrize(("importer", "source", "expected"), [
    ("paxos_redis.storage.ledger", "from paxos_redis.runtime.worker import Worker",
     "storage imports paxos_redis.runtime.worker"),
    ("paxos_redis.protocol.priest", "from ..messengers.keys import Keys",
     "protocol imports paxos_redis.messengers.keys"),
    ("paxos_redis.citizen.client", "from paxos_redis.storage import ledger",
     "citizen imports paxos_redis.storage"),
    ("paxos_redis.runtime.worker", "import paxos_redis.tools.cli",
     "runtime imports paxos_redis.tools.cli"),
    ("paxos_redis.messengers.keys", "from paxos_redis import Client",
     "messengers imports paxos_redis (the package)"),
])
def test_an_upward_import_is_caught(importer: str, source: str, expected: str) -> None:
    bad = upward(importer, imports_of(source, importer, False))
    assert any(expected in b for b in bad), bad


def test_a_lazy_or_private_import_is_caught() -> None:
    source = "def f():\n    from paxos_redis.protocol.law import _window\n"
    found = imports_of(source, "paxos_redis.runtime.worker", False)
    assert lazy("paxos_redis.runtime.worker", found) and private("paxos_redis.runtime.worker",
                                                                  found)
    source = "from paxos_redis.messengers import streams\nx = streams._flush\n"
    assert private_attributes("paxos_redis.citizen.client", source) == \
        ["paxos_redis.citizen.client line 2: paxos_redis.messengers.streams._flush"]


def test_a_circle_is_caught() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
