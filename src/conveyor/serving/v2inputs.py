"""An Open Inference Protocol request → the model's feature columns.

Two layouts are accepted: one [N, n_features] tensor in metadata order, or one [N] / [N, 1]
tensor per feature, named after it. Missing values: NaN (binary) or ``null`` (JSON) in an FP
tensor for a numeric feature, ``""`` (binary or JSON) or ``null`` (JSON) in a BYTES tensor for
a categorical one — accepted where the feature was nullable in training, refused naming the
feature elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind, Schema
from conveyor.errors import Problem
from conveyor.serving.columns import check_columns, non_finite
from conveyor.serving.inputs import RequestError, UnseenPolicy, bad_request
from conveyor.serving.jsonbody import parse_json
from conveyor.serving.v2codec import Tensor, decode_inputs, split_body

if TYPE_CHECKING:
    import numpy as np

    from conveyor.bundle.runtime import Columns


@dataclass(frozen=True)
class InferInput:
    """A decoded V2 infer request: its JSON header (``id``, ``outputs``, ``parameters``) and
    the model's columns."""

    header: dict[str, Any]
    columns: Columns
    rows: int


def decode_infer(
    body: bytes, header_length: str | None, schema: Schema, policy: UnseenPolicy, max_rows: int
) -> InferInput:
    """Split, parse and check an infer request against ``schema``."""
    head, binary = split_body(body, header_length)
    header = parse_json(head)
    if not isinstance(header, dict):
        raise bad_request("body", "must be a JSON object")
    tensors = decode_inputs(header, binary, max_rows, len(schema.features))
    columns, rows = tensors_to_columns(tensors, schema, policy)
    return InferInput(header, columns, rows)


def tensors_to_columns(
    tensors: list[Tensor], schema: Schema, policy: UnseenPolicy
) -> tuple[Columns, int]:
    """One [N, n_features] tensor in metadata order, or one [N] / [N, 1] tensor per feature."""
    names = schema.names
    if len(tensors) == 1 and len(tensors[0].shape) == 2 and tensors[0].name not in names:
        raw = _matrix_columns(tensors[0], schema)
        if not isinstance(raw, dict):
            return raw  # all numeric: checked as one matrix
    else:
        raw = _feature_tensors(tensors, names)
    rows = len(raw[names[0]])
    if rows == 0:
        raise bad_request("inputs", "must hold at least one row")
    as_lists: dict[str, list[Any]] = {}
    problems: list[Problem] = []
    for col in schema.features:
        values = raw[col.name]
        if col.kind is not Kind.CATEGORICAL and values.dtype.kind in "iuf":
            import numpy as np

            arr = values.astype(np.float64)
            problems += non_finite(arr.reshape(-1, 1), [col], _cell(col.name))
            raw[col.name] = arr
            continue
        as_lists[col.name] = values.tolist()
    if problems:
        raise RequestError(problems)
    if not as_lists:
        return {n: raw[n] for n in names}, rows
    # the slow, value-checking path only for categorical or mistyped columns
    return check_columns(
        {n: (as_lists[n] if n in as_lists else raw[n].tolist()) for n in names},
        schema,
        policy,
        lambda name, i: f"inputs[{name}][{i}]",
    )


def _cell(name: str) -> Callable[[int, int], str]:
    return lambda i, _: f"inputs[{name}][{i}]"


def _matrix_columns(matrix: Tensor, schema: Schema) -> dict[str, np.ndarray] | tuple[Columns, int]:
    """A [N, n_features] tensor's columns; checked and final when every feature is numeric."""
    import numpy as np

    names = schema.names
    rows, width = matrix.shape
    if width != len(names):
        raise RequestError(
            [
                Problem(
                    f"inputs[{matrix.name}].shape",
                    f"must be [N, {len(names)}] (one column per feature), got {matrix.shape}",
                )
            ]
        )
    if matrix.data.dtype.kind in "iuf" and all(
        c.kind is not Kind.CATEGORICAL for c in schema.features
    ):
        if rows == 0:
            raise bad_request("inputs", "must hold at least one row")
        # the common numeric case: one conversion and one finiteness check for the matrix
        values = matrix.data.astype(np.float64, copy=False)
        problems = non_finite(
            values, schema.features, lambda i, j: f"inputs[{matrix.name}][{i}][{j}] ({names[j]})"
        )
        if problems:
            raise RequestError(problems)
        return {n: values[:, j] for j, n in enumerate(names)}, rows
    return {n: matrix.data[:, j] for j, n in enumerate(names)}


def _feature_tensors(tensors: list[Tensor], names: list[str]) -> dict[str, np.ndarray]:
    raw: dict[str, np.ndarray] = {}
    problems = []
    for t in tensors:
        if t.name not in names:
            problems.append(Problem(f"inputs[{t.name}]", "unknown feature"))
        elif len(t.shape) > 2 or (len(t.shape) == 2 and t.shape[1] != 1):
            problems.append(
                Problem(f"inputs[{t.name}].shape", f"must be [N] or [N, 1], got {t.shape}")
            )
        else:
            raw[t.name] = t.data.reshape(-1)
    problems += [
        Problem(f"inputs[{n}]", "missing feature") for n in names if n not in raw and not problems
    ]
    if problems:
        raise RequestError(problems)
    lengths = {len(v) for v in raw.values()}
    if len(lengths) != 1:
        raise RequestError(
            [Problem("inputs", f"feature tensors differ in length: {sorted(lengths)}")]
        )
    return raw
