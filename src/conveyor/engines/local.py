"""`conveyor score --engine local`: stream the input in record batches through the model and
append each answer batch to the output, so memory stays bounded by the batch, not the data."""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.display import shown
from conveyor.engines.scoring import IDENTITY, output_arrow_schema, plan_for, score_batch
from conveyor.errors import DataError, Problem

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from conveyor.bundle.model import Bundle

BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ScoreResult:
    rows: int
    output: Path
    seconds: float
    engine: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "output": str(self.output),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds else None,
            "engine": self.engine,
        }


def input_files(spec: str) -> list[str]:
    """A file, a directory (its Parquet/CSV files) or a glob; ``DataError`` if nothing."""
    path = Path(spec)
    if path.is_dir():
        found = sorted(
            str(p) for p in path.rglob("*") if p.suffix.lower() in {".parquet", ".pq", ".csv"}
        )
    elif any(ch in spec for ch in "*?["):
        found = sorted(glob.glob(spec, recursive=True))
    else:
        found = [spec] if path.exists() else []
    if not found:
        raise DataError(spec, [Problem("--input", "no Parquet or CSV file found")])
    kinds = {Path(f).suffix.lower() in {".csv"} for f in found}
    if len(kinds) > 1:
        raise DataError(spec, [Problem("--input", "mixes CSV and Parquet files")])
    return found


def open_dataset(files: list[str]) -> ds.Dataset:
    import pyarrow.dataset as ds

    fmt = "csv" if files[0].lower().endswith(".csv") else "parquet"
    try:
        return ds.dataset(files, format=fmt)
    except Exception as exc:  # pyarrow's errors for unreadable files are many
        raise DataError(files[0], [Problem("--input", f"cannot read: {exc}")]) from None


def score_local(
    bundle: Bundle,
    input_spec: str,
    output: Path,
    keep: list[str] | None = None,
    batch_rows: int = BATCH_ROWS,
    observe: Callable[[dict[str, Any], Any], None] | None = None,
) -> ScoreResult:
    import time

    import pyarrow as pa

    from conveyor.bundle.runtime import open_runtime

    started = time.perf_counter()
    dataset = open_dataset(input_files(input_spec))
    plan = plan_for(bundle, dataset.schema.names, keep)
    runtime = open_runtime(bundle)
    columns = list(dict.fromkeys([*plan.keep, *plan.features]))
    schema = output_arrow_schema(plan, dataset.schema, bundle.classification)
    scored = pa.schema([f for f in schema if f.name not in IDENTITY])
    model, version = pa.scalar(plan.model), pa.scalar(plan.version)
    writer = _Writer(output, schema)
    rows = 0
    try:
        for batch in _batches(dataset, columns, batch_rows):
            if batch.num_rows == 0:
                continue
            answers = score_batch(batch, bundle, runtime, plan, scored, rows, observe)
            table = pa.Table.from_batches([answers])
            n = batch.num_rows  # constant columns straight in Arrow: no per-row Python
            table = table.append_column("model", pa.repeat(model, n))
            writer.write(table.append_column("model_version", pa.repeat(version, n)))
            rows += batch.num_rows
    except BaseException:
        writer.close()
        output.unlink(missing_ok=True)  # never leave half an answer behind
        raise
    writer.close()
    return ScoreResult(rows, output, time.perf_counter() - started, "local")


def _batches(dataset: ds.Dataset, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The input's ``columns``, ``batch_rows`` rows at a time, in file and row order.

    A Parquet file is decoded as it is consumed (``ParquetFile.iter_batches`` over a buffered
    stream), so what is held is a batch and a read buffer per column, whatever the size of the
    file's row groups: Arrow holds ~55 MB for 64k rows of 14 columns. The dataset scanner
    decodes whole row groups and reads more of them ahead while the model runs (on
    500,000-row groups, up to 290 MB, more the slower the model), so it is kept only where it
    is needed: CSV, and a file whose columns differ from the dataset's schema (a later file of
    several), which the scanner casts to that schema."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not isinstance(dataset.format, ds.ParquetFileFormat):
        yield from dataset.to_batches(
            columns=columns, batch_size=batch_rows, batch_readahead=2, fragment_readahead=1
        )
        return
    wanted = [dataset.schema.field(name) for name in columns]
    for fragment in dataset.get_fragments():
        try:
            parquet = pq.ParquetFile(fragment.path, pre_buffer=False, buffer_size=_READ_BUFFER)
        except Exception as exc:  # pyarrow's errors for unreadable files are many
            raise DataError(fragment.path, [Problem("--input", f"cannot read: {exc}")]) from None
        with parquet:
            if not _same_columns(parquet.schema_arrow, wanted):
                yield from fragment.to_batches(
                    schema=dataset.schema, columns=columns, batch_size=batch_rows,
                    batch_readahead=2,
                    fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
                )  # fmt: skip
                continue
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                yield batch.select(columns)


_READ_BUFFER = 1 << 20  # bytes read at a time from each column chunk


def _same_columns(schema: pa.Schema, wanted: list[pa.Field]) -> bool:
    """Whether a file has each wanted column once, of the type the dataset reads it as."""
    for field in wanted:
        at = schema.get_field_index(field.name)
        if at < 0 or not schema.field(at).type.equals(field.type):
            return False
    return True


class _Writer:
    """Parquet or CSV by the output's suffix, written batch by batch."""

    def __init__(self, output: Path, schema: Any) -> None:
        suffix = output.suffix.lower()
        if suffix not in {".parquet", ".pq", ".csv"}:
            raise DataError(
                str(output), [Problem("--output", f"use .parquet or .csv, not {shown(suffix)}")]
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        self.csv = suffix == ".csv"
        self.schema = schema
        self.output = output
        self._writer: Any = None

    def write(self, table: Any) -> None:
        if self._writer is None:
            if self.csv:
                import pyarrow.csv as pcsv

                self._writer = pcsv.CSVWriter(str(self.output), self.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.output), self.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:  # no rows: still an output with the columns
            self.write(self.schema.empty_table())
        self._writer.close()
