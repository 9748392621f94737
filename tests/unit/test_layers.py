"""Import layers, over every import of every module of src/conveyor: at the top, inside
functions, under ``if TYPE_CHECKING:`` and through ``importlib.import_module("...")`` alike
(a lazy or annotation-only import is still a dependency someone has to keep true).

1. The core (every package and module but the edges) never imports an edge package of
   Conveyor or the web and CLI frameworks the edges are built on.
2. No import cycle between the packages (and top-level modules) of ``conveyor``: the
   package-level graph has no strongly connected component larger than one node, once the
   edges listed in ``ALLOWED_EDGES`` (each with its reason) are set aside.

The rules name packages by role, not by today's module names, so modules may move freely
inside a package."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# The edges of the process: adapters over HTTP, the terminal and the browser, and the
# `python -m conveyor` entry point. Everything else in `conveyor` is core.
EDGES = frozenset({"serving", "cli", "console", "__main__"})
# What a core module may not import (the edges above, the frameworks they adapt to).
FORBIDDEN_IN_CORE = (
    "conveyor.serving",
    "conveyor.cli",
    "conveyor.console",
    "fastapi",
    "starlette",
    "typer",
    "uvicorn",
)
# Package edges that close a cycle today and are tolerated, each with why. A new cycle fails;
# so does an entry here that no longer exists (remove it then).
ALLOWED_EDGES: Mapping[tuple[str, str], str] = {
    # data.feast names spec.models.FeastSpec in annotations only (under TYPE_CHECKING), while
    # the data spec asks data.loading for the built-in dataset names when validating `source`.
    ("data", "spec"): "annotation-only import of FeastSpec in data.feast",
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    path: Path
    line: int
    target: str  # the imported module, dotted and absolute

    def __str__(self) -> str:
        return f"{self.module} ({self.path}:{self.line}) imports {self.target}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            # relative: in a package's __init__, `from . import x` is relative to the package
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        # `from conveyor import gates` imports the module conveyor.gates, while
        # `from conveyor import __version__` imports a name of conveyor itself
        return sorted(
            {f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names}
        )
    if (
        isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            or (isinstance(node.func, ast.Name) and node.func.id in {"import_module", "__import__"})
        )
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def imports(root: Path, package: str = "conveyor") -> tuple[Import, ...]:
    """Every import in every module under ``root/package``, at any depth."""
    return _imports(root, package)


@functools.cache
def _imports(root: Path, package: str) -> tuple[Import, ...]:
    return tuple(_walk(root, package))


def _walk(root: Path, package: str) -> Iterator[Import]:
    paths = sorted((root / package).rglob("*.py"))
    known = {module_name(root, path) for path in paths}
    for path in paths:
        module = module_name(root, path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _targets(node, module, path.name == "__init__.py", known):
                yield Import(module, path, getattr(node, "lineno", 0), target)


def part_of(module: str) -> str:
    """The package (or top-level module) of ``conveyor`` a dotted name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _under(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def layer_violations(root: Path, package: str = "conveyor") -> list[str]:
    found = []
    for imp in imports(root, package):
        if part_of(imp.module) in EDGES:
            continue
        for forbidden in FORBIDDEN_IN_CORE:
            if _under(imp.target, forbidden):
                found.append(f"{imp}: the core may not import {forbidden}")
    return found


def package_graph(root: Path, package: str = "conveyor") -> dict[str, dict[str, list[Import]]]:
    """package -> package it imports -> the imports that make the edge. The root package is
    left out: every import passes through it, and what it re-exports is the public API
    (tests/unit/test_public_api.py)."""
    graph: dict[str, dict[str, list[Import]]] = {}
    for imp in imports(root, package):
        if not _under(imp.target, package):
            continue
        me, other = part_of(imp.module), part_of(imp.target)
        if "__init__" in (me, other):
            continue
        graph.setdefault(me, {})
        if other != me:
            graph[me].setdefault(other, []).append(imp)
    return graph


def cycles(graph: Mapping[str, Mapping[str, object]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def cycle_report(root: Path, allowed: Mapping[tuple[str, str], str] = ALLOWED_EDGES) -> list[str]:
    graph = package_graph(root)
    kept = {
        a: {b: i for b, i in edges.items() if (a, b) not in allowed} for a, edges in graph.items()
    }
    lines = []
    for component in cycles(kept):
        members = set(component)
        lines.append(f"import cycle between {', '.join(component)}:")
        for a in component:
            for b, edge in sorted(kept[a].items()):
                if b in members:
                    lines.append(
                        f"  {a} -> {b}: {edge[0]}"
                        + (f" (+{len(edge) - 1} more)" if len(edge) > 1 else "")
                    )
    return lines


# --------------------------------------------------------------------------- the real tree
def test_the_tree_is_read() -> None:
    graph = package_graph(SRC)
    assert "bundle" in graph["serving"]
    assert "cli" in graph["__main__"]
    # lazy and annotation-only imports are seen too
    lazy = [
        i
        for i in imports(SRC)
        if i.module.startswith("conveyor.spec.") and i.target.startswith("conveyor.data")
    ]
    assert lazy, "the import inside a validator of the data spec is not seen"


def test_the_core_imports_no_edge_and_no_web_or_cli_framework() -> None:
    found = layer_violations(SRC)
    assert not found, "\n".join(found)


def test_no_new_import_cycle_between_packages() -> None:
    found = cycle_report(SRC)
    assert not found, "\n".join(found)


def test_every_allowed_edge_still_exists() -> None:
    graph = package_graph(SRC)
    stale = [f"{a} -> {b}" for a, b in ALLOWED_EDGES if b not in graph.get(a, {})]
    assert not stale, f"no longer imported, remove from ALLOWED_EDGES: {stale}"


# --------------------------------------------------------------- the checks on a made-up tree
def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_lazy_framework_import_in_the_core_is_named_with_its_line(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "conveyor/__init__.py": "",
            "conveyor/gates.py": "import json\n\n\ndef f():\n    import fastapi.responses\n",
            "conveyor/serving/__init__.py": "import fastapi\n",  # an edge may
        },
    )
    found = layer_violations(root)
    assert len(found) == 1
    assert found[0].startswith(
        f"conveyor.gates ({root / 'conveyor/gates.py'}:5) imports fastapi.responses"
    )
    assert found[0].endswith("the core may not import fastapi")


def test_annotation_only_and_relative_imports_of_an_edge_are_caught(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "conveyor/__init__.py": "",
            "conveyor/serving/__init__.py": "",
            "conveyor/monitoring/__init__.py": "from . import watch\n",
            "conveyor/monitoring/watch.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from ..serving.metrics import ServerMetrics\n"
            ),
            "conveyor/rollout/loop.py": "import importlib\nimportlib.import_module('conveyor.cli.main')\n",
        },
    )
    found = layer_violations(root)
    assert [f.split(" (")[0] + " " + f.split(" imports ")[1] for f in found] == [
        "conveyor.monitoring.watch conveyor.serving.metrics: the core may not import conveyor.serving",
        "conveyor.rollout.loop conveyor.cli.main: the core may not import conveyor.cli",
    ]
    assert ":3) imports" in found[0]


def test_a_name_that_only_starts_like_a_framework_is_not_it(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"conveyor/__init__.py": "import typeguard\nimport conveyor.servings\n"})
    assert layer_violations(root) == []


def test_a_cycle_through_three_packages_is_reported_and_an_allowed_edge_breaks_it(
    tmp_path: Path,
) -> None:
    root = _tree(
        tmp_path,
        {
            "conveyor/__init__.py": "",
            "conveyor/a/__init__.py": "from conveyor.b import x\n",
            "conveyor/b/x.py": "def f():\n    import conveyor.c.y\n",
            "conveyor/c/y.py": "from conveyor.a import z\n",
            "conveyor/d.py": "import conveyor.a\n",  # leads into the cycle, not part of it
        },
    )
    assert cycles(package_graph(root)) == [["a", "b", "c"]]
    report = cycle_report(root, allowed={})
    assert report[0] == "import cycle between a, b, c:"
    assert "  b -> c: conveyor.b.x" in report[2] and "x.py:2) imports conveyor.c.y" in report[2]
    assert cycle_report(root, allowed={("c", "a"): "why"}) == []


@pytest.mark.parametrize("edges", [{"a": {"b": 1}, "b": {}}, {"a": {}}, {}])
def test_an_acyclic_graph_has_no_cycle(edges: dict[str, dict[str, object]]) -> None:
    assert cycles(edges) == []
