"""`conveyor score`: batch answers equal the real server's for the same rows (a categorical, a
nullable numeric and a boolean feature, string labels), on all three engines; the local engine
streams in bounded batches; bad tables are refused naming the column."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import BIN, Registered
from tests.serving.server import running_server

pytestmark = pytest.mark.integration
ROWS = 300


def score(reg: Registered, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [str(BIN / "conveyor"), "score", "mixed", "--json", *args],
        env=reg.env() | (env or {}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def table(mixed_registered: Registered, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rows like the training data, with ids, as Parquet."""
    frame = pd.read_csv(mixed_registered.project / "data.csv").drop(columns="label")
    frame = frame.sample(ROWS, replace=True, random_state=4).reset_index(drop=True)
    frame.insert(0, "row_id", np.arange(ROWS) + 1000)
    path = tmp_path_factory.mktemp("score") / "rows.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def local_answers(mixed_registered: Registered, table: Path) -> pd.DataFrame:
    out = table.parent / "local.parquet"
    result = score(
        mixed_registered, "--input", str(table), "--output", str(out), "--batch-rows", "64"
    )
    assert result["rows"] == ROWS and result["engine"] == "local"
    return pd.read_parquet(out)


def server_answers(reg: Registered, frame: pd.DataFrame) -> dict:
    rows = json.loads(frame.drop(columns="row_id").to_json(orient="records"))
    with running_server(reg, "mixed") as server:
        answer = httpx.post(f"{server.url}/predict", json={"instances": rows}, timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_local_scoring_equals_the_server(
    mixed_registered: Registered, table: Path, local_answers: pd.DataFrame
) -> None:
    frame = pd.read_parquet(table)
    served = server_answers(mixed_registered, frame)
    assert local_answers["row_id"].tolist() == frame["row_id"].tolist()  # keys kept, in order
    assert local_answers["prediction"].tolist() == served["predictions"]
    probabilities = local_answers[[f"probability_{c}" for c in served["classes"]]].to_numpy()
    np.testing.assert_allclose(probabilities, np.asarray(served["probabilities"]), atol=1e-6)
    assert set(local_answers["model"]) == {"mixed"}
    assert set(local_answers["model_version"]) == {"1"}


def test_csv_in_and_out_and_chosen_keys(
    mixed_registered: Registered, table: Path, local_answers: pd.DataFrame, tmp_path: Path
) -> None:
    csv_in = tmp_path / "rows.csv"
    pd.read_parquet(table).to_csv(csv_in, index=False)
    out = tmp_path / "answers.csv"
    score(mixed_registered, "--input", str(csv_in), "--output", str(out), "--keep", "row_id")
    answers = pd.read_csv(out)
    assert list(answers.columns)[:2] == ["row_id", "prediction"]
    assert answers["prediction"].tolist() == local_answers["prediction"].tolist()


def test_bad_tables_are_refused_naming_the_column(
    mixed_registered: Registered, table: Path, tmp_path: Path
) -> None:
    frame = pd.read_parquet(table)
    frame.drop(columns="colour").to_parquet(tmp_path / "no_colour.parquet")
    bad = frame.copy()
    bad["size"] = [None if pd.isna(v) else str(v) for v in bad["size"]]  # a text column
    bad.loc[7, "size"] = "huge"
    bad.to_parquet(tmp_path / "bad_size.parquet")
    for name, says in (("no_colour", "missing features: 'colour'"), ("bad_size", "'huge'")):
        out = tmp_path / f"{name}-out.parquet"
        done = subprocess.run(
            [str(BIN / "conveyor"), "score", "mixed", "--input", str(tmp_path / f"{name}.parquet"),
             "--output", str(out)],
            env=mixed_registered.env(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert says in " ".join(done.stderr.split()) and "Traceback" not in done.stderr
        assert not out.exists()  # no half-written answers


def test_spark_gives_the_same_answers(
    mixed_registered: Registered, table: Path, local_answers: pd.DataFrame, tmp_path: Path
) -> None:
    pytest.importorskip("pyspark", reason="PySpark is an optional extra: pip install '.[spark]'")
    out = tmp_path / "spark-out"
    result = score(
        mixed_registered, "--input", str(table), "--output", str(out), "--engine", "spark",
        "--spark-master", "local[2]",
        env={"PYSPARK_PYTHON": str(BIN / "python"), "SPARK_LOCAL_IP": "127.0.0.1"},
    )  # fmt: skip
    assert result["rows"] == ROWS
    answers = pd.read_parquet(out).sort_values("row_id").reset_index(drop=True)
    expected = local_answers.sort_values("row_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(answers, expected, check_dtype=False)


def test_ray_gives_the_same_answers(
    mixed_registered: Registered,
    table: Path,
    local_answers: pd.DataFrame,
    tmp_path: Path,
    ray_address: str,
) -> None:
    out = tmp_path / "ray-out"
    result = score(
        mixed_registered, "--input", str(table), "--output", str(out), "--engine", "ray",
        env={"RAY_ADDRESS": ray_address},
    )  # fmt: skip
    assert result["rows"] == ROWS
    answers = pd.read_parquet(out).sort_values("row_id").reset_index(drop=True)
    expected = local_answers.sort_values("row_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(answers, expected, check_dtype=False)
    assert os.environ.get("RAY_ADDRESS") is None  # the test's own process was not told


def test_scored_rows_can_be_counted_into_the_drift_monitor(
    wine_registered: Registered, tmp_path: Path
) -> None:
    """`conveyor score --monitor`: a batch of shifted rows reaches the version's monitor as
    served traffic does, and `conveyor monitor` judges it (here: drift on the two shifted
    features)."""
    from sklearn.datasets import load_wine

    reg = wine_registered.clone(tmp_path)
    frame = load_wine(as_frame=True).frame.drop(columns="target")
    shifted = pd.concat([frame] * 3, ignore_index=True)
    shifted["alcohol"] += 3.0
    shifted["proline"] *= 2.0
    table = tmp_path / "batch.parquet"
    shifted.to_parquet(table)
    done = subprocess.run(
        [str(BIN / "conveyor"), "score", "wine", "--input", str(table),
         "--output", str(tmp_path / "out.parquet"), "--monitor", "--batch-rows", "100"],
        env=reg.env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    monitor = subprocess.run(
        [str(BIN / "conveyor"), "monitor", "wine", "--window", "1h", "--json"],
        env=reg.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(monitor.stdout)
    assert report["drift"]["rows_current"] == len(shifted), report["drift"]
    assert {"alcohol", "proline"} <= set(report["drift"]["drifted"])
    refused = subprocess.run(
        [str(BIN / "conveyor"), "score", "wine", "--input", str(table), "--engine", "spark",
         "--output", str(tmp_path / "spark-out"), "--monitor"],
        env=reg.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and "--engine local" in refused.stderr
