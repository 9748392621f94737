"""MLflow's scoring protocol's JSON formats, as `mlflow models serve` reads them.

A body holds exactly one of ``dataframe_split`` (pandas' ``orient="split"``: ``columns`` and
``data``), ``dataframe_records`` (a list of objects), ``instances`` or ``inputs`` (objects, rows
in schema order, or for ``inputs`` columns as ``{name: [values]}``), with optional ``params``
(accepted; Conveyor's models take none). Problems are located in the body's own terms
(``dataframe_split.data[3].alcohol``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from conveyor.serving.codecs.base import JSON, Decoded, Named, Opened
from conveyor.serving.columns import columns_from_matrix
from conveyor.serving.inputs import bad_request, check_rows

if TYPE_CHECKING:
    from conveyor.data.schema import Schema
    from conveyor.serving.inputs import UnseenPolicy


class MlflowEnvelope:
    """``{<one format>: ..., "params": {...}}``; any other member is refused."""

    strict_media = True  # as MLflow's server: JSON or a registered type, else 415
    pins_version = False

    def open(self, parsed: Any, names: Sequence[str]) -> Opened:
        formats = ", ".join(names)
        if not isinstance(parsed, dict):
            raise bad_request("body", f"must be a JSON object holding one of {formats}")
        given = [name for name in names if name in parsed]
        if len(given) != 1:
            found = f"; it holds {', '.join(given)}" if given else ""
            raise bad_request("body", f"must hold exactly one of {formats}{found}")
        unknown = sorted(set(parsed) - {*names, "params"})
        if unknown:
            raise bad_request(unknown[0], f"unknown key; the body holds one of {formats}")
        params = parsed.get("params")
        if params is not None and not isinstance(params, dict):
            raise bad_request("params", "must be an object")
        return Opened(given[0], parsed[given[0]])


class Rows:
    """Rows under ``name``: objects (named rows) or lists in schema order."""

    media_type = JSON

    def __init__(self, name: str) -> None:
        self.name = name

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        return rows(value, schema, policy, max_rows, self.name)


class DataframeSplit:
    """pandas' ``orient="split"``: ``{"columns": [...], "data": [[...], ...]}``."""

    name = "dataframe_split"
    media_type = JSON

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        return rows(_split_records(value, max_rows), schema, policy, max_rows, self.name)


class Inputs:
    """Like ``instances``, or columns as ``{name: [values]}`` (``{name: value}``: one row)."""

    name = "inputs"
    media_type = JSON

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        if isinstance(value, dict):
            value = _columnar_records(value, max_rows)
        return rows(value, schema, policy, max_rows, self.name)


def rows(value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int, label: str) -> Decoded:
    if isinstance(value, list) and value and isinstance(value[0], list):
        return columns_from_matrix(value, schema, policy, max_rows, label)
    return Named(value, label)


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
    (count,) = lengths
    check_rows("inputs", count, max_rows)
    return [{k: v[i] for k, v in lists.items()} for i in range(count)]
