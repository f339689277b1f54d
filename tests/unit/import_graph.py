"""What the package's modules import, read from their source (``ast``): shared by the purity
test (the core imports only the standard library) and the layering test (imports go down)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import paxos_redis

PACKAGE_DIR = Path(paxos_redis.__file__).resolve().parent


@dataclass(frozen=True)
class Import:
    line: int
    target: str             # the absolute module named (for ``from m import x``: m, and m.x)
    names: tuple[str, ...]  # the names taken (``from m import a, b``), else ()
    top: bool               # a statement of the module's body, not inside a def, if or try


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(importer: str, is_package: bool, name: str | None, level: int) -> str:
    """The absolute module a (possibly relative) import statement names."""
    if level == 0:
        return name or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(source: str, importer: str, is_package: bool) -> list[Import]:
    """Every import statement (``from . import x`` also names module ``x``), and calls that
    import or read behind the checker's back (``__import__``, ``exec``, ``eval``, ``open``)
    as targets ``<call NAME>``."""
    tree = ast.parse(source)
    body = {id(node) for node in tree.body}
    found: list[Import] = []
    for node in ast.walk(tree):
        top = id(node) in body
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, (), top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(importer, is_package, node.module, node.level)
            names = tuple(alias.name for alias in node.names)
            found.append(Import(node.lineno, target, names, top))
            if node.module is None:
                found += [Import(node.lineno, f"{target}.{name}", (), top) for name in names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("__import__", "exec", "eval", "open"):
            found.append(Import(node.lineno, f"<call {node.func.id}>", (), top))
    return found


def package_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    return {module_name(path, package_dir): path for path in sorted(package_dir.rglob("*.py"))}


def imports_by_module(package_dir: Path = PACKAGE_DIR) -> dict[str, list[Import]]:
    return {name: imports_of(path.read_text(), name, path.name == "__init__.py")
            for name, path in package_modules(package_dir).items()}
