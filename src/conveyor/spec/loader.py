"""Read ``conveyor.yaml`` and turn every problem into a message naming its YAML path and line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from conveyor.errors import Problem, SpecError
from conveyor.spec.document import Lines, RefusedDocument, located, read_document
from conveyor.spec.keys import unknown_key_message
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
    except UnicodeDecodeError as exc:
        raise SpecError(shown, [Problem("", f"not UTF-8 text ({exc.reason})")]) from None
    try:
        document = read_document(text)
    except RefusedDocument as exc:
        raise SpecError(shown, [Problem(f"line {exc.line}", exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(shown, [Problem(where, f"malformed YAML: {problem}")]) from None
    if not isinstance(document.data, dict):
        raise SpecError(shown, [Problem("", "expected a mapping at the top level")])
    try:
        spec = ProjectSpec.model_validate(document.data)
    except ValidationError as exc:
        raise SpecError(shown, [_problem(err, document.lines) for err in exc.errors()]) from None
    spec._source_file = shown
    spec._lines = document.lines
    return spec


def spec_hash(spec: ProjectSpec) -> str:
    """A stable hash of the validated spec (key order and formatting do not matter)."""
    payload = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _problem(err: Any, lines: Lines) -> Problem:
    loc = tuple(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = unknown_key_message(loc)
    elif err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] == "less_than_equal":
        message = f"must be ≤ {err['ctx']['le']}"
    elif err["type"] == "greater_than_equal":
        message = f"must be ≥ {err['ctx']['ge']}"
    return Problem(located(loc, lines), message)
