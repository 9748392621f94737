"""MLflow's scoring protocol, as `mlflow models serve` speaks it, over Conveyor's models.

A ``POST /invocations`` body is JSON holding exactly one of ``dataframe_split`` (pandas'
``orient="split"``: ``columns`` and ``data``), ``dataframe_records`` (a list of objects),
``instances`` or ``inputs`` (objects, rows in schema order, or for ``inputs`` columns as
``{name: [values]}``), with optional ``params`` (accepted; Conveyor's models take none), or a
CSV (``text/csv``) with a header row. Each becomes the same columns ``/predict`` decodes, so it
is checked, logged, metered, monitored and routed by rollouts the same way; problems are located
in the body's own terms (``dataframe_split.data[3].alcohol``, ``csv[3].alcohol``). Named rows of a
model trained on a feature store may give entity keys instead of features, as on ``/predict``.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind, Schema
from conveyor.serving.inputs import (
    PredictInput,
    RequestError,
    UnseenPolicy,
    bad_request,
    check_rows,
    columns_from_instances,
    columns_from_matrix,
    named_rows,
)
from conveyor.serving.jsonbody import parse_json

if TYPE_CHECKING:
    from conveyor.serving.features import FeatureLookup
    from conveyor.serving.manager import ModelManager

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class UnsupportedMediaType(RequestError):
    def __init__(self, given: str) -> None:
        from conveyor.errors import Problem

        message = f"{given or 'no Content-Type'}: send application/json or text/csv"
        super().__init__([Problem("Content-Type", message)], status=415)


def decode_invocations(
    body: bytes,
    manager: ModelManager,
    policy: UnseenPolicy,
    max_rows: int,
    content_type: str,
    lookup: FeatureLookup | None = None,
) -> PredictInput:
    model = manager.get(None)
    schema = model.bundle.schema
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        records = _csv_records(body, schema, max_rows)
        columns, rows = columns_from_instances(records, schema, policy, max_rows, "csv")
        return PredictInput(model, None, columns, rows)
    if kind not in ("application/json", ""):
        raise UnsupportedMediaType(kind)
    parsed = parse_json(body)
    if not isinstance(parsed, dict):
        raise bad_request("body", f"must be a JSON object holding one of {', '.join(FORMATS)}")
    given = [key for key in FORMATS if key in parsed]
    if len(given) != 1:
        found = f"; it holds {', '.join(given)}" if given else ""
        raise bad_request("body", f"must hold exactly one of {', '.join(FORMATS)}{found}")
    unknown = sorted(set(parsed) - {*FORMATS, "params"})
    if unknown:
        raise bad_request(unknown[0], f"unknown key; the body holds one of {', '.join(FORMATS)}")
    params = parsed.get("params")
    if params is not None and not isinstance(params, dict):
        raise bad_request("params", "must be an object")
    key = given[0]
    value = parsed[key]
    if key == "dataframe_split":
        value = _split_records(value, max_rows)
    elif key == "inputs" and isinstance(value, dict):
        value = _columnar_records(value, max_rows)
    if isinstance(value, list) and value and isinstance(value[0], list):
        columns, rows = columns_from_matrix(value, schema, policy, max_rows, key)
        return PredictInput(model, None, columns, rows)
    return named_rows(model, None, value, policy, max_rows, lookup, key)


def _split_records(split: Any, max_rows: int) -> list[dict[str, Any]]:
    if not isinstance(split, dict):
        raise bad_request("dataframe_split", "must be an object with columns and data")
    names, data = split.get("columns"), split.get("data")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_request("dataframe_split.columns", "must be a list of column names")
    if not isinstance(data, list) or not data:
        raise bad_request("dataframe_split.data", "must be a non-empty list of rows")
    check_rows("dataframe_split.data", len(data), max_rows)
    records = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(names):
            raise bad_request(
                f"dataframe_split.data[{i}]", f"must be a list of {len(names)} values"
            )
        records.append(dict(zip(names, row, strict=True)))
    return records


def _columnar_records(columns: dict[str, Any], max_rows: int) -> list[dict[str, Any]]:
    """``{name: [values]}`` (or ``{name: value}`` for one row) as records."""
    lists = {k: v if isinstance(v, list) else [v] for k, v in columns.items()}
    lengths = {len(v) for v in lists.values()}
    if len(lengths) != 1:
        raise bad_request("inputs", "columns must all have the same number of values")
    (rows,) = lengths
    check_rows("inputs", rows, max_rows)
    return [{k: v[i] for k, v in lists.items()} for i in range(rows)]


def _csv_records(body: bytes, schema: Schema, max_rows: int) -> list[dict[str, Any]]:
    """Rows of a CSV with a header, each value typed by its feature's kind ("" is missing)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("body", "a CSV must be UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    kinds = {c.name: c.kind for c in schema.features}
    records: list[dict[str, Any]] = []
    try:
        header = next(reader, None)
        if not header:
            raise bad_request("csv", "needs a header row naming the features")
        for i, row in enumerate(reader):
            if not row:
                continue
            check_rows("csv", len(records) + 1, max_rows)
            if len(row) != len(header):
                raise bad_request(f"csv[{i}]", f"has {len(row)} values, the header {len(header)}")
            records.append({n: _typed(v, kinds.get(n)) for n, v in zip(header, row, strict=True)})
    except csv.Error as exc:
        raise bad_request(f"csv line {reader.line_num}", f"not CSV: {exc}") from None
    return records


def _typed(text: str, kind: Kind | None) -> Any:
    if text == "":
        return None
    if kind is Kind.NUMERIC or kind is Kind.BOOLEAN:
        lowered = text.strip().lower()
        if kind is Kind.BOOLEAN and lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        try:
            return float(text)
        except ValueError:
            return text  # reported by the checks as "must be a number, got str ..."
    return text
