"""Read ``conveyor.yaml`` and turn every problem into a message naming its YAML path and line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from conveyor.errors import Problem, SpecError
from conveyor.spec.models import ProjectSpec

SPEC_FILE = "conveyor.yaml"


def load_spec(path: Path) -> ProjectSpec:
    """Parse and validate a project file; raise ``SpecError`` listing every problem."""
    if path.is_dir():
        path = path / SPEC_FILE
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            shown, [Problem("", "file not found (run `conveyor init` to create one)")]
        ) from None
    except OSError as exc:
        raise SpecError(shown, [Problem("", f"cannot read: {exc.strerror}")]) from None
    try:
        raw = yaml.safe_load(text)
        lines = _line_index(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(shown, [Problem(where, f"malformed YAML: {problem}")]) from None
    if not isinstance(raw, dict):
        raise SpecError(shown, [Problem("", "expected a mapping at the top level")])
    try:
        spec = ProjectSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(shown, [_problem(err, lines) for err in exc.errors()]) from None
    spec._source_file = shown
    return spec


def spec_hash(spec: ProjectSpec) -> str:
    """A stable hash of the validated spec (key order and formatting do not matter)."""
    payload = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _problem(err: Any, lines: dict[tuple[str, ...], int]) -> Problem:
    loc = tuple(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] == "less_than_equal":
        message = f"must be ≤ {err['ctx']['le']}"
    elif err["type"] == "greater_than_equal":
        message = f"must be ≥ {err['ctx']['ge']}"
    where = ".".join(loc)
    line = _nearest_line(loc, lines)
    if line is not None:
        where = f"{where} (line {line})" if where else f"line {line}"
    return Problem(where, message)


def _nearest_line(loc: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Map each mapping key path to its 1-based line, so errors can point into the file."""
    index: dict[tuple[str, ...], int] = {}
    root = yaml.compose(text)

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                index[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, str(i))
                index[child] = item.start_mark.line + 1
                walk(item, child)

    if root is not None:
        walk(root, ())
    return index
