"""Drift between two files: CSV or Parquet (or a model's ``profile.json`` as the reference).

Columns are read with pyarrow one at a time (a whole CSV is parsed at once, by pyarrow's
multi-threaded reader), turned into numpy or category counts and summarised before the next
one is read, so memory holds one column, not two data frames. Kinds follow the reference's
column types as ``conveyor.data.schema.column_kind`` reads them from pandas: booleans,
numbers, and strings (categorical); other types (dates, binary, nested) are skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind
from conveyor.errors import UserError
from conveyor.monitoring.drift import (
    Current,
    DriftConfig,
    DriftReport,
    FeatureEvidence,
    Reference,
    conclude,
    measure_feature,
)
from conveyor.monitoring.samples import (
    CategoryCounts,
    numeric_reference,
    numeric_sample,
    reference_from_profile,
)

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET = {".parquet", ".pq"}
CSV = {".csv", ".txt", ".gz"}


@dataclass(frozen=True)
class FileDrift:
    """A drift report between two files, with where they came from and how long each step took."""

    report: DriftReport
    reference: str
    current: str
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        timings = {k: round(v, 4) for k, v in self.timings_s.items()}
        return self.report.to_dict() | {
            "reference": self.reference,
            "current": self.current,
            "timings_s": timings,
        }


class Table:
    """Columns of one CSV or Parquet file, read on demand."""

    def __init__(self, path: Path, schema: pa.Schema, read: Any) -> None:
        self.path = path
        self.schema = schema
        self._read = read

    @property
    def names(self) -> list[str]:
        return list(self.schema.names)

    def kind(self, name: str) -> Kind | None:
        """The column's kind, ``None`` for a type drift does not compare."""
        import pyarrow as pa

        kind = self.schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_boolean(kind):
            return Kind.BOOLEAN
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return Kind.NUMERIC
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
            return Kind.CATEGORICAL
        return None

    def is_null(self, name: str) -> bool:
        import pyarrow as pa

        return bool(pa.types.is_null(self.schema.field(name).type))

    def column(self, name: str) -> pa.ChunkedArray:
        try:
            column: pa.ChunkedArray = self._read(name)
        except Exception as exc:  # pyarrow's errors carry the useful detail
            raise UserError(f"{self.path}: cannot read column {name!r}: {exc}") from None
        return column


def open_table(path: Path) -> Table:
    """Open a CSV or Parquet file; a ``UserError`` naming the file if that is impossible."""
    import pyarrow as pa

    if not path.exists():
        raise UserError(f"{path}: file not found")
    if not path.is_file():
        raise UserError(f"{path}: not a file")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET:
            return _open_parquet(path)
        if suffix in CSV:
            return _open_csv(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        kind = "Parquet" if suffix in PARQUET else "CSV"
        raise UserError(f"{path}: cannot read as {kind}: {exc}") from None
    raise UserError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def _open_parquet(path: Path) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    strings = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    # strings stay dictionary-encoded as Parquet stores them: counting them is then cheap
    handle = pq.ParquetFile(path, read_dictionary=strings)

    def read(name: str) -> pa.ChunkedArray:
        return handle.read(columns=[name]).column(0)

    return Table(path, schema, read)


def _open_csv(path: Path) -> Table:
    import pyarrow.csv as pacsv

    # empty strings are missing, as pandas reads them
    options = pacsv.ConvertOptions(strings_can_be_null=True)
    table = pacsv.read_csv(path, convert_options=options)
    return Table(path, table.schema, table.column)


def to_reference(column: pa.ChunkedArray, kind: Kind, config: DriftConfig) -> Reference:
    if kind is Kind.NUMERIC:
        return numeric_reference(_floats(column), config.bins)
    return _category_counts(column)


def to_current(column: pa.ChunkedArray, kind: Kind) -> Current:
    if kind is Kind.NUMERIC:
        return numeric_sample(_floats(column))
    return _category_counts(column)


def _floats(column: pa.ChunkedArray) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    return pc.cast(column, pa.float64()).to_numpy()  # nulls become NaN


def _category_counts(column: pa.ChunkedArray) -> CategoryCounts:
    import pyarrow.compute as pc

    counts: dict[str, int] = {}
    for entry in pc.value_counts(column).to_pylist():
        if entry["values"] is not None:
            label = str(entry["values"])  # as the profile writes labels: True, 3, 2.5, paris
            counts[label] = counts.get(label, 0) + int(entry["counts"])
    return CategoryCounts(counts, len(column), column.null_count)


def select_columns(
    reference: Sequence[str], current: Table, requested: Sequence[str] | None, ref_path: Path
) -> list[str]:
    """The columns to compare: ``requested`` (each must be in both files) or all common ones."""
    if requested:
        for name in requested:
            if name not in reference:
                raise UserError(f"{ref_path}: no column {name!r} (it has: {_listing(reference)})")
            if name not in current.names:
                raise UserError(
                    f"{current.path}: no column {name!r} (it has: {_listing(current.names)})"
                )
        return list(dict.fromkeys(requested))
    common = [n for n in reference if n in current.names]
    if not common:
        raise UserError(f"{ref_path} and {current.path} have no column in common")
    return common


def _listing(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def drift_between_files(
    reference: Path,
    current: Path,
    config: DriftConfig | None = None,
    *,
    columns: Sequence[str] | None = None,
    prediction: str | None = None,
    open_current: Callable[[str], Any] | None = None,
) -> FileDrift:
    """Compare ``current`` with ``reference`` (a data file, or a model's ``profile.json``).

    ``open_current`` reads the current window with another engine, one whose table also
    counts every numeric over the reference's bins in one pass (``currents``): Spark's
    (``engines.spark_drift.open_current``), where ``current`` may be a directory or a glob."""
    config = config or DriftConfig()
    started = time.perf_counter()
    timings = {"read": 0.0, "compare": 0.0}
    cur: Any = open_current(str(current)) if open_current is not None else open_table(current)
    wanted = None
    if columns:
        wanted = [*columns, *([prediction] if prediction and prediction not in columns else [])]
    if reference.suffix.lower() == ".json":
        profile = _load_profile(reference)
        entries: dict[str, Any] = dict(profile["features"])
        if prediction and prediction not in entries and profile.get("prediction"):
            entries[prediction] = profile["prediction"]
        ref_names = list(entries)
        names = select_columns(ref_names, cur, wanted, reference)
        rows = int(profile.get("rows", 0))
        ref_kinds = {n: Kind(entries[n]["kind"]) for n in names}
        ref_table = None
    else:
        ref_table = open_table(reference)
        ref_names = ref_table.names
        names = select_columns(ref_names, cur, wanted, reference)
        ref_kinds = _kinds(ref_table, cur, names, explicit=bool(columns))
    if prediction and prediction not in names:
        select_columns(ref_names, cur, [prediction], reference)  # names the file that lacks it
    skipped = {n: "type not compared" for n in names if n not in ref_kinds}
    _check_kinds(ref_kinds, cur)
    evidence: list[FeatureEvidence] = []
    predicted: FeatureEvidence | None = None
    tick = time.perf_counter()
    references: dict[str, tuple[Kind, Reference]] = {}
    for name, kind in ref_kinds.items():
        if ref_table is None:
            references[name] = (kind, reference_from_profile(entries[name], rows))
        else:
            references[name] = (kind, to_reference(ref_table.column(name), kind, config))
    if open_current is not None:
        currents = cur.currents(references)  # one pass for the numerics
    else:
        currents = {name: to_current(cur.column(name), kind) for name, kind in ref_kinds.items()}
    timings["read"] += time.perf_counter() - tick
    for name, kind in ref_kinds.items():
        ref_sample = references[name][1]
        cur_sample = currents[name]
        tock = time.perf_counter()
        item = measure_feature(name, kind, ref_sample, cur_sample, config)
        timings["compare"] += time.perf_counter() - tock
        if name == prediction:
            predicted = item
        else:
            evidence.append(item)
    report = conclude(evidence, config, predicted, skipped)
    timings["total"] = time.perf_counter() - started
    return FileDrift(report, str(reference), str(current), timings)


def _kinds(ref: Table, cur: Table, names: list[str], explicit: bool) -> dict[str, Kind]:
    """Each column's kind from the reference's type (the current's when the reference's
    column is all null); a column of another type is skipped, or refused when asked for."""
    kinds: dict[str, Kind] = {}
    for name in names:
        kind = cur.kind(name) if ref.is_null(name) else ref.kind(name)
        if kind is None and explicit:
            found = ref.schema.field(name).type
            raise UserError(
                f"{ref.path}: column {name!r} has type {found}, which drift does not compare"
            )
        if kind is not None:
            kinds[name] = kind
    return kinds


def _check_kinds(kinds: dict[str, Kind], cur: Table) -> None:
    """Refuse a column numeric in the reference but not now (a CSV with a stray word in a
    numeric column). Numbers where the reference has categories are read as their labels."""
    for name, kind in kinds.items():
        if kind is Kind.NUMERIC and cur.kind(name) is not Kind.NUMERIC and not cur.is_null(name):
            actual = cur.schema.field(name).type
            raise UserError(
                f"{cur.path}: column {name!r} is {actual} here but {kind.value} in the reference"
            )


def _load_profile(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        profile = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a JSON reference profile: {exc}") from None
    if not isinstance(profile, dict) or not isinstance(profile.get("features"), dict):
        raise UserError(f"{path}: not a Conveyor reference profile (no 'features' mapping)")
    return profile
