"""``text/csv``: a header row naming the features, then one row per instance.

Each value is typed by its feature's kind (``""`` is a missing value; ``true``/``false``,
``yes``/``no``, ``1``/``0`` for a boolean), then checked as named rows are, so a CSV answers as
the same rows sent as JSON ``instances`` do. Problems are located as ``csv[row].feature``,
rows counted from 0 after the header. Entity keys cannot stand in for features here: a CSV
cell carries no type to tell a key's ``1001`` from ``"1001"``. Nor can a CSV pin a model
version: routing picks it, as for a JSON body without ``model_version``.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind
from conveyor.serving.columns import columns_from_instances, spelling, spellings
from conveyor.serving.inputs import bad_request, check_rows

if TYPE_CHECKING:
    from conveyor.data.schema import Schema
    from conveyor.serving.codecs.base import Decoded
    from conveyor.serving.inputs import UnseenPolicy

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class Csv:
    name = "csv"
    media_type = "text/csv"

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        records = csv_records(value, schema, max_rows, self.name)
        return columns_from_instances(records, schema, policy, max_rows, self.name)


def csv_records(body: bytes, schema: Schema, max_rows: int, label: str) -> list[dict[str, Any]]:
    """Rows of a CSV with a header, each value typed by its feature's kind ("" is missing)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("body", "a CSV must be UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    records: list[dict[str, Any]] = []
    try:
        header = next(reader, None)
        if not header:
            raise bad_request(label, "needs a header row naming the features")
        kinds = _kinds(header, schema)
        for i, row in enumerate(reader):
            if not row:
                continue
            check_rows(label, len(records) + 1, max_rows)
            if len(row) != len(header):
                raise bad_request(
                    f"{label}[{i}]", f"has {len(row)} values, the header {len(header)}"
                )
            records.append({n: _typed(v, k) for n, v, k in zip(header, row, kinds, strict=True)})
    except csv.Error as exc:
        raise bad_request(f"{label} line {reader.line_num}", f"not CSV: {exc}") from None
    return records


def _kinds(header: list[str], schema: Schema) -> list[Kind | None]:
    """Each column's feature kind, found as the checks will find its feature: by name, or
    by a spelling that differs only in case and punctuation (``OD280_OD315``)."""
    kinds = {c.name: c.kind for c in schema.features}
    by_spelling = spellings(schema.names)
    return [
        kinds[name] if name in kinds else kinds.get(by_spelling.get(spelling(name), ""))
        for name in header
    ]


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
