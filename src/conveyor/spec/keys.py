"""Which keys are valid at a place in ``conveyor.yaml``, and the closest to one that is not."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from conveyor.spec.models import DataSpec, ModelSpec, ProjectSpec

# Keys people reach for that the spec spells differently (the closest spelling would not find
# them): key -> (the key to use, how).
_INTENT: dict[type[BaseModel], dict[str, tuple[str, str]]] = {
    DataSpec: {
        **dict.fromkeys(
            ("exclude", "drop", "ignore", "exclude_columns", "drop_columns", "columns"),
            ("features", "list the columns to keep; every other column is left out"),
        ),
        **dict.fromkeys(("label", "y", "target_column"), ("target", "the column to predict")),
        **dict.fromkeys(("path", "file", "dataset", "csv"), ("source", "a file or sklearn:<name>")),
    },
    ModelSpec: {
        **dict.fromkeys(("class", "type", "algorithm"), ("estimator", "an import path")),
        **dict.fromkeys(
            ("hyperparameters", "parameters", "kwargs", "args"), ("params", "estimator arguments")
        ),
    },
}


def model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The section (pydantic model) found at ``loc`` under the project file, if there is one."""
    annotation: Any = ProjectSpec
    for part in loc:
        annotation = child_annotation(unwrap(annotation), str(part))
        if annotation is None:
            return None
    found = unwrap(annotation)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def unknown_key_message(loc: Sequence[str | int]) -> str:
    """Say that the last key of ``loc`` is not valid there, what is, and what was likely meant."""
    key = str(loc[-1])
    section = model_at(loc[:-1])
    if section is None:
        return "unknown key"
    valid = list(section.model_fields)
    intent = _INTENT.get(section, {}).get(key.lower())
    close = difflib.get_close_matches(key.lower(), valid, n=1, cutoff=0.6)
    if intent is not None:
        hint = f"unknown key; did you mean `{intent[0]}`? ({intent[1]})."
    elif close:
        hint = f"unknown key; did you mean `{close[0]}`?"
    else:
        homes = [".".join(p[:-1]) for p in key_paths() if p[-1] == key]
        if not homes:
            hint = "unknown key."
        elif homes[0]:
            hint = f"unknown key; `{key}` belongs under `{homes[0]}`."
        else:
            hint = f"unknown key; `{key}` is a top-level key."
    prefix = ".".join(str(p) for p in loc[:-1])
    command = f"conveyor spec {prefix}" if prefix else "conveyor spec"
    return f"{hint} Valid here: {', '.join(valid)} (`{command}` describes each)"


def key_paths(
    model: type[BaseModel] = ProjectSpec, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every key path of the project file's sections, depth first, in declaration order."""
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        yield path
        inner = unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from key_paths(inner, path)


def unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; a union with one section -> that section."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        sections = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
        if sections:
            return sections[0]
        return members[0] if len(members) == 1 else annotation
    return annotation


def child_annotation(annotation: Any, part: str) -> Any:
    """The annotation one key (or index) below ``annotation``; None when there is none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part)
        return None if field is None else field.annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None
