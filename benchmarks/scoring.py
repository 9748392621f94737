"""Benchmark: batch scoring rows/s, `conveyor score` (local and spark engines) against MLflow's
``mlflow.pyfunc.spark_udf`` on the same Spark session and the same registered version.

A wine LogisticRegression is trained and registered in a throwaway home; N synthetic rows (wine
rows resampled with noise) are written as Parquet. Then:

- ``local``: `conveyor score --engine local` as a subprocess (streaming batches; its peak RSS is
  reported: it should not grow with N; its rows/s counts the process start, and the engine's
  own rate is printed after the table);
- ``spark``: ``score_spark`` on a local[2] session (the model's ONNX graph per partition);
- ``spark_udf``: MLflow's pyfunc UDF of the same version on the same session, writing the same
  predictions to Parquet (``row_id`` and the label; Conveyor also writes the probabilities).
- ``spark_floor``: no model at all — a ``mapInArrow`` that answers each batch with its
  ``row_id`` and a constant label, written like spark_udf's output. No Python scorer on this
  session can beat it: it is what reading, shipping to the Python workers and writing cost.

Each Spark side runs once warm (a small job first, so JVM start is not counted).

    .venv/bin/python benchmarks/scoring.py                    # 1M rows
    .venv/bin/python benchmarks/scoring.py --rows 10000000 --json
    .venv/bin/python benchmarks/scoring.py --rows 6000000 --engines local   # no Spark
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SPEC = """\
name: wine_bench
task: classification
data: {source: "sklearn:wine", target: target}
model: {estimator: sklearn.linear_model.LogisticRegression, params: {max_iter: 1000}}
"""


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    return env | {"CONVEYOR_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}


def prepare(work: Path, rows: int) -> Path:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_wine

    (work / "project").mkdir()
    (work / "project" / "conveyor.yaml").write_text(SPEC)
    env = env_for(work / "home")
    for args in (["run"], ["promote", "wine_bench", "1", "--to", "production"]):
        subprocess.run(
            [str(BIN / "conveyor"), *args], cwd=work / "project", env=env, check=True,
            capture_output=True, timeout=600,
        )  # fmt: skip
    base = load_wine(as_frame=True).frame.drop(columns="target")
    rng = np.random.default_rng(0)
    path = work / "rows.parquet"
    writer = None
    chunk = 500_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        sample = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
        sample = sample * rng.normal(1.0, 0.02, size=sample.shape)
        sample.insert(0, "row_id", np.arange(start, start + n))
        table = pa.Table.from_pandas(pd.DataFrame(sample), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return path


# Starts the scorer and writes its peak RSS (KiB) to argv[1]. A fresh, small process starts
# it: Linux counts a child's memory before its exec into ru_maxrss, so a scorer forked from
# this benchmark (which holds the data it wrote) would report at least this process's peak.
_PEAK_RSS = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(child.returncode)
"""


def run_local(work: Path, rows_path: Path, rows: int) -> dict[str, Any]:
    out = work / "local.parquet"
    peak = work / "local.peak"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(peak), str(BIN / "conveyor"), "score",
         "wine_bench", "--input", str(rows_path), "--output", str(out), "--json"],
        env=env_for(work / "home"), capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return {
        "engine": "local",
        "rows": rows,
        "seconds": wall,
        "peak_rss_mb": round(int(peak.read_text()) / 1024),
        "scoring_seconds": json.loads(done.stdout)["seconds"],
    }


def run_spark(work: Path, rows_path: Path, rows: int) -> list[dict[str, Any]]:
    os.environ.update(env_for(work / "home"))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import mlflow

    from conveyor.bundle.sources import registered_bundle
    from conveyor.engines.spark import score_spark, spark_session
    from conveyor.settings import Settings

    settings = Settings()
    session = spark_session("local[2]")
    bundle = registered_bundle(settings, "wine_bench", None, "production")
    small = work / "small.parquet"
    session.read.parquet(str(rows_path)).limit(1000).write.parquet(str(small))
    score_spark(bundle, str(small), work / "warm-spark")  # JVM and workers up
    started = time.perf_counter()
    score_spark(bundle, str(rows_path), work / "spark-out")
    conveyor_s = time.perf_counter() - started

    mlflow.set_tracking_uri(settings.tracking_uri)
    features = bundle.schema.names
    udf = mlflow.pyfunc.spark_udf(session, "models:/wine_bench@production", result_type="long")
    frame = session.read.parquet(str(rows_path))
    frame.limit(1000).withColumn("prediction", udf(*features)).write.mode("overwrite").parquet(
        str(work / "warm-udf")
    )
    started = time.perf_counter()
    frame.withColumn("prediction", udf(*features)).select("row_id", "prediction").write.mode(
        "overwrite"
    ).parquet(str(work / "udf-out"))
    udf_s = time.perf_counter() - started

    import pyarrow as pa
    from pyspark.sql.types import LongType, StructField, StructType

    def constant(batches: Any) -> Any:
        for batch in batches:
            zeros = pa.array([0] * batch.num_rows, pa.int64())
            yield pa.RecordBatch.from_arrays([batch.column("row_id"), zeros], ["row_id", "p"])

    out = StructType([StructField("row_id", LongType()), StructField("p", LongType())])
    floor = frame.select("row_id", *features).mapInArrow(constant, out)
    floor.limit(1000).write.mode("overwrite").parquet(str(work / "warm-floor"))
    started = time.perf_counter()
    floor.write.mode("overwrite").parquet(str(work / "floor-out"))
    floor_s = time.perf_counter() - started
    session.stop()
    return [
        {"engine": "spark", "rows": rows, "seconds": conveyor_s},
        {"engine": "spark_udf", "rows": rows, "seconds": udf_s},
        {"engine": "spark_floor", "rows": rows, "seconds": floor_s},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--engines", default="local,spark",
        help="Comma-separated: local, spark (spark also runs spark_udf and spark_floor).",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="Also write benchmarks/results/.")
    args = parser.parse_args()
    engines = {e.strip() for e in args.engines.split(",") if e.strip()}
    if not engines or engines - {"local", "spark"}:
        parser.error("--engines: local, spark or both")
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        work = Path(tmp)
        rows_path = prepare(work, args.rows)
        results = []
        if "local" in engines:
            results.append(run_local(work, rows_path, args.rows))
        if "spark" in engines:
            results += run_spark(work, rows_path, args.rows)
    for r in results:
        r["rows_per_s"] = round(r["rows"] / r["seconds"])
        r["seconds"] = round(r["seconds"], 2)
    print(f"batch scoring, {args.rows:,} rows, {os.cpu_count()} CPUs")
    print(f"{'engine':<10} {'seconds':>9} {'rows/s':>12} {'peak RSS MB':>12}")
    for r in results:
        rss = r.get("peak_rss_mb", "")
        print(f"{r['engine']:<10} {r['seconds']:>9} {r['rows_per_s']:>12,} {rss!s:>12}")
    by = {r["engine"]: r for r in results}
    if "local" in by:  # the engine's own time: without the process start and model lookup
        local = by["local"]
        print(f"local scoring alone: {local['rows'] / local['scoring_seconds']:,.0f} rows/s")
    summary: dict[str, Any] = {"rows": args.rows, "results": results}
    if "spark" in by:
        ratio = by["spark"]["rows_per_s"] / by["spark_udf"]["rows_per_s"]
        ceiling = by["spark_floor"]["rows_per_s"] / by["spark_udf"]["rows_per_s"]
        print(f"conveyor spark / spark_udf: {ratio:.2f}x (no model at all: {ceiling:.2f}x)")
        summary |= {"ratio": ratio, "ceiling": ceiling}
    if args.json:
        out = ROOT / "benchmarks" / "results" / "scoring.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
