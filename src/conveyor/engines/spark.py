"""`conveyor score --engine spark`: the same scoring as ``local``, as a ``mapInArrow`` over a
Spark DataFrame, so data larger than one machine is scored where it lives. The model's directory
travels to the executors with ``SparkContext.addFile``; each Python worker opens the runtime
once and scores Arrow batches (numeric features reach the runtime without pandas). Output is Spark's: a directory of Parquet (or CSV) parts.

PySpark is an optional extra (``pip install 'conveyor-mlops[spark]'``, Java 17).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.engines.local import BATCH_ROWS, ScoreResult, input_files
from conveyor.engines.scoring import IDENTITY, output_arrow_schema, plan_for, score_batch
from conveyor.errors import DataError, Problem, UserError
from conveyor.settings import spark_workers_run_here

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conveyor.bundle.model import Bundle


def spark_session(master: str | None = None) -> Any:
    """The active session, or a new one on ``master`` (default ``local[*]``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(
            "--engine spark needs PySpark: pip install 'conveyor-mlops[spark]'"
        ) from None
    spark_workers_run_here()
    builder = SparkSession.builder.appName("conveyor-score")
    if master or not SparkSession.getActiveSession():
        builder = builder.master(master or "local[*]").config("spark.ui.enabled", "false")
    return builder.getOrCreate()


def read_frame(input_spec: str, master: str | None = None) -> Any:
    """The rows of ``input_spec`` (a file, a directory or a glob of Parquet or CSV; a CSV's
    header names the columns and Spark infers their types) as a DataFrame of the session on
    ``master``. The files are found first: a spec matching none is refused before Spark starts."""
    files = input_files(input_spec)
    reader = spark_session(master).read
    if files[0].lower().endswith(".csv"):
        return reader.option("header", True).option("inferSchema", True).csv(files)
    return reader.parquet(*files)


def score_spark(
    bundle: Bundle,
    input_spec: str,
    output: Path,
    keep: list[str] | None = None,
    master: str | None = None,
) -> ScoreResult:
    from pyspark.sql import functions
    from pyspark.sql.pandas.types import from_arrow_schema

    started = time.perf_counter()
    frame = read_frame(input_spec, master)
    session = frame.sparkSession
    import pyarrow as pa

    arrow_keys = pa.schema([pa.field(f.name, _arrow_type(f.dataType)) for f in frame.schema.fields])
    plan = plan_for(bundle, frame.columns, keep)
    out_schema = output_arrow_schema(plan, arrow_keys, bundle.classification)
    session.sparkContext.addFile(str(bundle.path), recursive=True)
    folder, identity = bundle.path.name, bundle.identity

    # model and version are constants: Spark adds them, the workers need not ship them back
    scored = pa.schema([f for f in out_schema if f.name not in IDENTITY])

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        from conveyor.bundle.model import read_bundle
        from conveyor.bundle.runtime import open_runtime

        local = read_bundle(Path(SparkFiles.get(folder)), identity)
        runtime = open_runtime(local)
        for batch in batches:
            yield score_batch(batch, local, runtime, plan, scored)

    columns = list(dict.fromkeys([*plan.keep, *plan.features]))
    # larger Arrow batches: fewer round trips between the JVM and the Python workers
    session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
    answers = (
        frame.select(*columns)
        .mapInArrow(score, from_arrow_schema(scored))
        .withColumn("model", functions.lit(plan.model))
        .withColumn("model_version", functions.lit(plan.version))
    )
    writer = answers.write.mode("overwrite")
    suffix = output.suffix.lower()
    if suffix == ".csv":
        writer.option("header", True).csv(str(output))
    elif suffix in {".parquet", ".pq", ""}:
        writer.parquet(str(output))
    else:
        raise DataError(str(output), [Problem("--output", "use a .parquet or .csv directory")])
    return ScoreResult(
        _written_rows(session, output), output, time.perf_counter() - started, "spark"
    )


def _written_rows(session: Any, output: Path) -> int:
    """Rows in the written output, read back rather than computed again: Parquet from its
    footers (no data read), CSV as text (no scoring run twice)."""
    if output.suffix.lower() == ".csv":
        return int(session.read.option("header", True).csv(str(output)).count())
    import pyarrow.dataset as ds

    return int(ds.dataset(str(output), format="parquet").count_rows())


def _arrow_type(spark_type: Any) -> Any:
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(spark_type)
