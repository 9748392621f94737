"""Decode request bodies into feature columns and check them against the model's schema.

Every problem is collected and reported with its location (``instances[3].alcohol``), so a
client fixes its request in one go. Work is per column with numpy; Python touches each
value once, only to reject what JSON numbers cannot be (strings, booleans, nulls).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Column, Kind, Schema
from conveyor.errors import Problem, UserError

if TYPE_CHECKING:
    import numpy as np

    from conveyor.serving.runtime import Columns

MAX_PROBLEMS = 50
_NUMBER_TYPES = (int, float)


class UnseenPolicy(StrEnum):
    ALLOW = "allow"
    REJECT = "reject"


class RequestError(UserError):
    """A request that does not fit the model; ``problems`` says where and why."""

    http_status = 422

    def __init__(self, problems: Sequence[Problem], status: int = 422) -> None:
        self.problems = list(problems)[:MAX_PROBLEMS]
        self.http_status = status
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid request: {head}{more}")

    def to_dict(self) -> dict[str, object]:
        return {
            "error": self.message,
            "problems": [{"loc": p.where, "msg": p.message} for p in self.problems],
        }


def bad_request(where: str, message: str) -> RequestError:
    return RequestError([Problem(where, message)], status=400)


def columns_from_instances(
    instances: Any, schema: Schema, policy: UnseenPolicy
) -> tuple[Columns, int]:
    """``[{feature: value}, ...]`` (or one object) → columns in schema order."""
    if isinstance(instances, dict):
        instances = [instances]
    if not isinstance(instances, list) or not instances:
        raise bad_request("instances", "must be a non-empty list of objects")
    names = schema.names
    wanted = set(names)
    problems: list[Problem] = []
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            problems.append(Problem(f"instances[{i}]", "must be an object of feature: value"))
            continue
        if row.keys() != wanted:
            keys = set(row)
            for name in sorted(wanted - keys):
                problems.append(Problem(f"instances[{i}].{name}", "missing feature"))
            for name in sorted(keys - wanted):
                problems.append(Problem(f"instances[{i}].{name}", "unknown feature"))
    if problems:
        raise RequestError(problems)
    raw = {name: [row[name] for row in instances] for name in names}
    return check_columns(raw, schema, policy, lambda name, i: f"instances[{i}].{name}")


def columns_from_matrix(rows: Any, schema: Schema, policy: UnseenPolicy) -> tuple[Columns, int]:
    """``[[v1, v2, ...], ...]`` in schema order → columns."""
    import numpy as np

    if not isinstance(rows, list) or not rows:
        raise bad_request("features", "must be a non-empty list of rows")
    if not isinstance(rows[0], list):
        rows = [rows]  # a single row
    width = len(schema.features)
    bad = [i for i, row in enumerate(rows) if not isinstance(row, list) or len(row) != width]
    if bad:
        raise RequestError(
            [Problem(f"features[{i}]", f"must be a list of {width} values") for i in bad]
        )
    if all(c.kind is not Kind.CATEGORICAL for c in schema.features):
        matrix = np.asarray(rows)
        if matrix.dtype.kind in "iuf" and matrix.ndim == 2:
            _check_finite_matrix(matrix, schema, lambda name, i: f"features[{i}].{name}")
            as_float = matrix.astype(np.float64, copy=False)
            return {c.name: as_float[:, j] for j, c in enumerate(schema.features)}, len(rows)
    raw = {c.name: [row[j] for row in rows] for j, c in enumerate(schema.features)}
    return check_columns(raw, schema, policy, lambda name, i: f"features[{i}].{name}")


def check_columns(
    raw: dict[str, list[Any]],
    schema: Schema,
    policy: UnseenPolicy,
    where: Callable[[str, int], str],
) -> tuple[Columns, int]:
    """Typed numpy columns from lists of JSON values, or a ``RequestError`` naming each bad cell."""
    rows = len(next(iter(raw.values()))) if raw else 0
    columns: Columns = {}
    problems: list[Problem] = []
    for col in schema.features:
        values = raw[col.name]
        if len(values) != rows:
            problems.append(Problem(col.name, f"has {len(values)} values, expected {rows}"))
            continue
        if col.kind is Kind.CATEGORICAL:
            columns[col.name] = _categorical(values, col, policy, where, problems)
        else:
            columns[col.name] = _numeric(values, col, where, problems)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise RequestError(problems)
    return columns, rows


def _numeric(
    values: list[Any], col: Column, where: Callable[[str, int], str], problems: list[Problem]
) -> np.ndarray:
    import numpy as np

    if all(type(v) in _NUMBER_TYPES for v in values):
        arr = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(arr)
        if not finite.all():
            for i in np.flatnonzero(~finite)[:10]:
                problems.append(Problem(where(col.name, int(i)), "must be a finite number"))
        return arr
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            if not col.nullable:
                problems.append(Problem(where(col.name, i), "must not be null"))
            out[i] = math.nan
        elif type(v) is bool and col.kind is Kind.BOOLEAN:
            out[i] = float(v)
        elif type(v) in _NUMBER_TYPES:
            if not math.isfinite(v):
                problems.append(Problem(where(col.name, i), "must be a finite number"))
            out[i] = v
        else:
            expected = "a boolean" if col.kind is Kind.BOOLEAN else "a number"
            problems.append(
                Problem(where(col.name, i), f"must be {expected}, got {type(v).__name__} {v!r:.40}")
            )
    return out


def _categorical(
    values: list[Any],
    col: Column,
    policy: UnseenPolicy,
    where: Callable[[str, int], str],
    problems: list[Problem],
) -> np.ndarray:
    import numpy as np

    from conveyor.training.features import MISSING_CATEGORY

    out = np.empty(len(values), dtype=object)
    known = set(col.categories)
    for i, v in enumerate(values):
        if v is None:
            if not col.nullable:
                problems.append(Problem(where(col.name, i), "must not be null"))
            out[i] = MISSING_CATEGORY
            continue
        if type(v) is str:
            text = v
        elif type(v) in _NUMBER_TYPES or type(v) is bool:
            text = str(v)
        else:
            problems.append(
                Problem(where(col.name, i), f"must be a string, got {type(v).__name__}")
            )
            continue
        if policy is UnseenPolicy.REJECT and known and text not in known:
            problems.append(Problem(where(col.name, i), f"unseen category {text!r:.40}"))
        out[i] = text
    return out


def _check_finite_matrix(
    matrix: np.ndarray, schema: Schema, where: Callable[[str, int], str]
) -> None:
    import numpy as np

    bad = ~np.isfinite(matrix)
    if bad.any():
        cells = np.argwhere(bad)[:MAX_PROBLEMS]
        raise RequestError(
            [
                Problem(where(schema.features[j].name, int(i)), "must be a finite number")
                for i, j in cells
            ]
        )
