"""The packages' import graph (every `import conveyor.X` in a module, at its top or inside a
function; those under `if TYPE_CHECKING:` are annotations, not dependencies): no two packages
depend on each other, and the model bundle depends on nothing that serves, monitors, rolls out,
trains or deploys it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "conveyor"
# what uses a bundle; the bundle uses none of it
USERS_OF_THE_BUNDLE = {
    "serving", "monitoring", "rollout", "pipeline", "cli", "deploy", "engines", "console", "api"
}  # fmt: skip


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "conveyor" else None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for n in ast.walk(node))
    return inside


def import_graph() -> dict[str, dict[str, set[str]]]:
    """package -> package it imports -> the files that do."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        me = rel.parts[0].removesuffix(".py")
        if me == "__init__":
            continue
        tree = ast.parse(path.read_text())
        annotations = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in annotations:
                continue
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            for module in modules:
                other = _package(module)
                if other is not None and other != me:
                    graph.setdefault(me, {}).setdefault(other, set()).add(str(rel))
    return graph


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "bundle" in graph["serving"] and "bundle" in graph["monitoring"]
    assert "registry" in graph["bundle"]  # a registered version's source asks the registry


def test_no_two_packages_depend_on_each_other() -> None:
    graph = import_graph()
    cycles = []

    def visit(start: str, node: str, path: list[str]) -> None:
        for nxt in graph.get(node, {}):
            if nxt == start:
                cycles.append(" -> ".join([*path, nxt]))
            elif nxt not in path and nxt > start:
                visit(start, nxt, [*path, nxt])

    for package in sorted(graph):
        visit(package, package, [package])
    described = [
        f"{c} ({', '.join(sorted(graph[c.split(' -> ')[0]][c.split(' -> ')[1]]))} ...)"
        for c in cycles
    ]
    assert not cycles, described


def test_the_bundle_depends_on_none_of_its_users() -> None:
    uses = import_graph()["bundle"]
    assert not set(uses) & USERS_OF_THE_BUNDLE, {
        u: uses[u] for u in set(uses) & USERS_OF_THE_BUNDLE
    }
