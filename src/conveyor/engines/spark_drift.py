"""`conveyor drift --engine spark`: the current window's per-feature counts computed by Spark
(one pass over data larger than memory), judged by the same statistics as the local engine.

Numeric columns are counted over the reference's quantile edges, as the live monitor counts a
window (``[below, bins..., above]``, left-closed bins, the last closed, with the tails' excess
for the Wasserstein distance); categories are counted per label, as the profile writes labels.
With a reference ``profile.json`` the local engine computes exactly these counts too, so both
engines reach the same verdicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind
from conveyor.errors import UserError
from conveyor.monitoring.samples import CategoryCounts, NumericBins, NumericReference

if TYPE_CHECKING:
    import pyarrow as pa

    from conveyor.monitoring.drift.columns import Current, Reference


class SparkCurrent:
    """The current window as a Spark DataFrame; answers what ``files.Table`` answers."""

    def __init__(self, spec: str, frame: Any, schema: pa.Schema) -> None:
        self.path = Path(spec)
        self.frame = frame
        self.schema = schema

    @property
    def names(self) -> list[str]:
        return list(self.schema.names)

    def kind(self, name: str) -> Kind | None:
        import pyarrow as pa

        kind = self.schema.field(name).type
        if pa.types.is_boolean(kind):
            return Kind.BOOLEAN
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return Kind.NUMERIC
        if pa.types.is_string(kind) or pa.types.is_null(kind):
            return Kind.CATEGORICAL
        return None

    def is_null(self, name: str) -> bool:
        import pyarrow as pa

        return bool(pa.types.is_null(self.schema.field(name).type))

    def currents(self, references: dict[str, tuple[Kind, Reference]]) -> dict[str, Current]:
        """Every column's counts: numerics in one aggregation pass, categories one each."""
        from pyspark.sql import functions as F

        numeric = {n: r for n, (k, r) in references.items() if isinstance(r, NumericReference)}
        aggregates = [F.count(F.lit(1)).alias("__rows")]
        for i, (name, ref) in enumerate(numeric.items()):
            aggregates += _numeric_aggregates(F, f"c{i}", F.col(_quoted(name)), ref)
        row = self.frame.agg(*aggregates).collect()[0].asDict()
        rows = int(row["__rows"])
        import numpy as np

        found: dict[str, Current] = {}
        for i, (name, ref) in enumerate(numeric.items()):
            edges = ref.bins.edges
            cells = len(edges) + 1 if edges.size else 1
            counts = np.asarray([int(row[f"c{i}_b{j}"] or 0) for j in range(cells)], dtype=np.int64)
            present = int(counts.sum())
            found[name] = NumericBins(
                edges,
                counts,
                rows,
                rows - present,
                float(row.get(f"c{i}_below") or 0.0),
                float(row.get(f"c{i}_above") or 0.0),
            )
        for name, (kind, _ref) in references.items():
            if name not in numeric:
                found[name] = self._category_counts(F, name, kind, rows)
        return found

    def _category_counts(self, F: Any, name: str, kind: Kind, rows: int) -> CategoryCounts:
        column = F.col(_quoted(name))
        if kind is Kind.BOOLEAN:  # as the profile writes them: True / False
            label = F.when(column, F.lit("True")).when(~column, F.lit("False"))
        else:
            label = column.cast("string")
        pairs = self.frame.groupBy(label.alias("label")).count().collect()
        counts = {r["label"]: int(r["count"]) for r in pairs if r["label"] is not None}
        missing = rows - sum(counts.values())
        return CategoryCounts(dict(sorted(counts.items())), rows, missing)


def _numeric_aggregates(F: Any, key: str, column: Any, ref: NumericReference) -> list[Any]:
    """Counts over the reference edges and the tails' excess, as ``samples.bin_sorted``."""
    value = column.cast("double")
    finite = value.isNotNull() & ~F.isnan(value) & (F.abs(value) != float("inf"))
    edges = [float(e) for e in ref.bins.edges]
    if not edges:
        return [F.sum(F.when(finite, 1).otherwise(0)).alias(f"{key}_b0")]
    lo, hi = edges[0], edges[-1]
    out = [F.sum(F.when(finite & (value < lo), 1).otherwise(0)).alias(f"{key}_b0")]
    inner = edges[1:-1]
    bounds = [lo, *inner, hi]
    for j in range(len(bounds) - 1):
        left, right = bounds[j], bounds[j + 1]
        last = j == len(bounds) - 2
        inside = (value >= left) & ((value <= right) if last else (value < right))
        out.append(F.sum(F.when(finite & inside, 1).otherwise(0)).alias(f"{key}_b{j + 1}"))
    out.append(F.sum(F.when(finite & (value > hi), 1).otherwise(0)).alias(f"{key}_b{len(bounds)}"))
    out.append(F.sum(F.when(finite & (value < lo), F.lit(lo) - value)).alias(f"{key}_below"))
    out.append(F.sum(F.when(finite & (value > hi), value - F.lit(hi))).alias(f"{key}_above"))
    return out


def open_current(spec: str, master: str | None = None) -> SparkCurrent:
    """The current window (a file, a directory or a glob of Parquet/CSV) as a Spark frame."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    from conveyor.engines.spark import read_frame

    frame = read_frame(spec, master)
    fields = []
    for f in frame.schema.fields:
        try:
            fields.append(pa.field(f.name, to_arrow_type(f.dataType)))
        except (TypeError, ValueError):
            raise UserError(f"{spec}: column {f.name!r} has a type drift cannot compare") from None
    return SparkCurrent(spec, frame, pa.schema(fields))


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
