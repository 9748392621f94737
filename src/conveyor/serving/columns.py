"""Request values → the model's typed feature columns, checked against its schema.

Work is per column with numpy; Python touches each value once, only to reject what JSON
numbers cannot be. Each problem is located by the caller's ``where`` (``instances[3].alcohol``,
``csv[3].alcohol``, ``inputs[alcohol][3]``).

Missing values: ``null`` (and ``NaN``, as pandas writes it) in a numeric feature, ``null`` or
``""`` in a categorical one, are accepted for features that were nullable in training and
refused, naming the feature, for the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Column, Kind, Schema
from conveyor.errors import Problem
from conveyor.serving.inputs import (
    MAX_PROBLEMS,
    Problems,
    RequestError,
    UnseenPolicy,
    bad_request,
    check_rows,
)

if TYPE_CHECKING:
    import numpy as np

    from conveyor.bundle.runtime import Columns

_NUMBER_TYPES = (int, float)
NUMERIC_MISSING = "must not be missing (null or NaN): the model was trained without missing values"
CATEGORY_MISSING = 'must not be missing (null or ""): the model was trained without missing values'


def columns_from_instances(
    instances: Any,
    schema: Schema,
    policy: UnseenPolicy,
    max_rows: int | None = None,
    label: str = "instances",
) -> tuple[Columns, int]:
    """``[{feature: value}, ...]`` (or one object) → columns in schema order; problems are
    located as ``label[row].feature``."""
    if isinstance(instances, dict):
        instances = [instances]
    if not isinstance(instances, list) or not instances:
        raise bad_request(label, "must be a non-empty list of objects")
    check_rows(label, len(instances), max_rows)
    names = schema.names
    wanted = set(names)
    problems = Problems()
    by_spelling: dict[str, str] | None = None
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            problems.add(f"{label}[{i}]", "must be an object of feature: value")
            continue
        if row.keys() != wanted:
            if by_spelling is None:
                by_spelling = spellings(names)
            row = instances[i] = _respelled(row, wanted, by_spelling)
            keys = set(row)
            for name in sorted(wanted - keys):
                problems.add(f"{label}[{i}].{name}", "missing feature")
            for name in sorted(keys - wanted):
                problems.add(f"{label}[{i}].{name}", _unknown(name, sorted(wanted - keys)))
    problems.check()
    raw = {name: [row[name] for row in instances] for name in names}
    return check_columns(raw, schema, policy, lambda name, i: f"{label}[{i}].{name}")


def spelling(name: str) -> str:
    """A feature name without case and punctuation: od280/od315 and OD280_OD315 agree."""
    return "".join(c for c in name.casefold() if c.isalnum())


def spellings(names: list[str]) -> dict[str, str]:
    """Each loose spelling that names exactly one feature -> that feature."""
    found: dict[str, list[str]] = {}
    for name in names:
        found.setdefault(spelling(name), []).append(name)
    return {loose: named[0] for loose, named in found.items() if len(named) == 1}


def _respelled(
    row: dict[str, Any], wanted: set[str], by_spelling: dict[str, str]
) -> dict[str, Any]:
    """The row with keys that differ from a missing feature's name only by case or
    punctuation renamed to it (pandas and SQL often rewrite ``/`` or ``-`` to ``_``)."""
    renamed: dict[str, Any] | None = None
    for key in row:
        if key in wanted or not isinstance(key, str):
            continue
        name = by_spelling.get(spelling(key))
        if name is not None and name not in row:
            renamed = dict(row) if renamed is None else renamed
            renamed[name] = renamed.pop(key)
    return row if renamed is None else renamed


def _unknown(name: str, missing: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, missing, n=1, cutoff=0.6)
    return f"unknown feature; did you mean {close[0]!r}?" if close else "unknown feature"


def columns_from_matrix(
    rows: Any,
    schema: Schema,
    policy: UnseenPolicy,
    max_rows: int | None = None,
    label: str = "features",
) -> tuple[Columns, int]:
    """``[[v1, v2, ...], ...]`` in schema order → columns."""
    import numpy as np

    if not isinstance(rows, list) or not rows:
        raise bad_request(label, "must be a non-empty list of rows")
    if not isinstance(rows[0], list):
        rows = [rows]  # a single row
    check_rows(label, len(rows), max_rows)
    width = len(schema.features)
    problems = Problems()
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            problems.add(f"{label}[{i}]", f"must be a list of {width} values")
    problems.check()
    if all(c.kind is not Kind.CATEGORICAL for c in schema.features):
        matrix = np.asarray(rows)  # object dtype when a null or a string is among the numbers
        if matrix.dtype.kind in "iuf" and matrix.ndim == 2:
            as_float = matrix.astype(np.float64, copy=False)
            names = schema.names
            bad = non_finite(as_float, schema.features, lambda i, j: f"{label}[{i}].{names[j]}")
            if bad:
                raise RequestError(bad)
            return {c.name: as_float[:, j] for j, c in enumerate(schema.features)}, len(rows)
    raw = {c.name: [row[j] for row in rows] for j, c in enumerate(schema.features)}
    return check_columns(raw, schema, policy, lambda name, i: f"{label}[{i}].{name}")


def check_columns(
    raw: dict[str, list[Any]],
    schema: Schema,
    policy: UnseenPolicy,
    where: Callable[[str, int], str],
) -> tuple[Columns, int]:
    """Typed numpy columns from lists of JSON values, or a ``RequestError`` naming each bad cell."""
    rows = len(next(iter(raw.values()))) if raw else 0
    columns: Columns = {}
    problems = Problems()
    for col in schema.features:
        values = raw[col.name]
        if len(values) != rows:
            problems.add(col.name, f"has {len(values)} values, expected {rows}")
            continue
        if col.kind is Kind.CATEGORICAL:
            columns[col.name] = _categorical(values, col, policy, where, problems)
        else:
            columns[col.name] = _numeric(values, col, where, problems)
    problems.check()
    return columns, rows


def non_finite(
    matrix: np.ndarray, features: Sequence[Column], where: Callable[[int, int], str]
) -> list[Problem]:
    """The cells (at most ``MAX_PROBLEMS``) of a [rows, features] float matrix holding an
    infinity, or NaN — a missing value — in a feature that was never missing in training."""
    import numpy as np

    finite = np.isfinite(matrix)
    if finite.all():
        return []
    nullable = np.asarray([c.nullable for c in features], dtype=bool)
    cells = np.argwhere(~finite & ~(np.isnan(matrix) & nullable))[:MAX_PROBLEMS]
    return [
        Problem(
            where(int(i), int(j)),
            NUMERIC_MISSING if math.isnan(matrix[i, j]) else "must be a finite number",
        )
        for i, j in cells
    ]


def _numeric(
    values: list[Any], col: Column, where: Callable[[str, int], str], problems: Problems
) -> np.ndarray:
    import numpy as np

    if all(type(v) in _NUMBER_TYPES for v in values):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float range: the per-value path names it
            pass
        else:
            for p in non_finite(arr.reshape(-1, 1), [col], lambda i, _: where(col.name, i)):
                problems.add(p.where, p.message)
            return arr
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or (type(v) is float and v != v):  # null, or NaN as pandas writes it
            if not col.nullable:
                problems.add(where(col.name, i), NUMERIC_MISSING)
            out[i] = math.nan
        elif type(v) is bool and col.kind is Kind.BOOLEAN:
            out[i] = float(v)
        elif type(v) in _NUMBER_TYPES:
            try:
                number = float(v)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                problems.add(where(col.name, i), "must be a finite number")
            out[i] = number
        else:
            expected = "a boolean" if col.kind is Kind.BOOLEAN else "a number"
            problems.add(
                where(col.name, i), f"must be {expected}, got {type(v).__name__} {v!r:.40}"
            )
    return out


def _categorical(
    values: list[Any],
    col: Column,
    policy: UnseenPolicy,
    where: Callable[[str, int], str],
    problems: Problems,
) -> np.ndarray:
    import numpy as np

    from conveyor.training.features import MISSING_CATEGORY

    out = np.empty(len(values), dtype=object)
    known = set(col.categories)
    empty_is_missing = "" not in known  # "" is how BYTES tensors (and CSVs) carry "missing"
    for i, v in enumerate(values):
        if v is None or (type(v) is float and v != v) or (v == "" and empty_is_missing):
            if not col.nullable:
                problems.add(where(col.name, i), CATEGORY_MISSING)
            out[i] = MISSING_CATEGORY
            continue
        if type(v) is str:
            text = v
        elif type(v) in _NUMBER_TYPES or type(v) is bool:
            text = str(v)
        else:
            problems.add(where(col.name, i), f"must be a string, got {type(v).__name__}")
            continue
        if policy is UnseenPolicy.REJECT and known and text not in known:
            problems.add(where(col.name, i), f"unseen category {text!r:.40}")
        out[i] = text
    return out
