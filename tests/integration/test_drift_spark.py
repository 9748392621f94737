"""`conveyor drift --engine spark`: the same per-feature counts and verdicts as the local engine
on the same data (a profile reference, so both count over the reference's bins), the current
window given as a directory of Parquet parts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conveyor.data.profile import build_profile
from conveyor.data.schema import infer_schema
from tests.conftest import CliResult
from tests.integration.test_drift_cli import frame

pytestmark = pytest.mark.integration
pytest.importorskip("pyspark", reason="PySpark is an optional extra: pip install '.[spark]'")

Cli = Callable[..., CliResult]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    train = frame(4000, 1)
    train.loc[::37, "income"] = np.nan  # a missing share of its own
    train["y"] = np.arange(4000) % 2
    features = ["age", "income", "city", "member", "score"]
    schema = infer_schema(train, features, "y", classification=True)
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(build_profile(train, schema, train["y"].to_numpy(), True)))
    return path


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_spark_counts_and_verdicts_equal_the_local_engine(
    cli: Cli, tmp_path: Path, profile: Path, shift: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    current = frame(6000, 7, shift=shift)
    current.loc[::11, "income"] = np.nan
    current.loc[::13, "city"] = None
    current.loc[5, "age"] = 1e6  # far above the reference: the tails' excess
    parts = tmp_path / "window"
    parts.mkdir()
    for i, start in enumerate(range(0, len(current), 2000)):
        current.iloc[start : start + 2000].to_parquet(parts / f"part-{i}.parquet", index=False)
    whole = tmp_path / "window.parquet"
    current.to_parquet(whole, index=False)

    local = cli("drift", "--reference", str(profile), "--current", str(whole), "--json")
    spark = cli(
        "drift", "--reference", str(profile), "--current", str(parts), "--json",
        "--engine", "spark", "--spark-master", "local[2]",
    )  # fmt: skip
    assert local.exit_code == spark.exit_code == (4 if shift else 0), spark.stderr
    a, b = local.json(), spark.json()
    assert a["drifted"] == b["drifted"]
    for x, y in zip(a["features"], b["features"], strict=True):
        assert x["name"] == y["name"] and x["status"] == y["status"] and x["test"] == y["test"]
        for key in ("psi", "p_value", "distance", "missing_share_cur", "unseen_share"):
            if x[key] is None:
                assert y[key] is None, (x["name"], key)
            else:
                assert x[key] == pytest.approx(y[key], rel=1e-9, abs=1e-12), (x["name"], key)
        assert (x["rows_cur"], x["rows_ref"]) == (y["rows_cur"], y["rows_ref"])
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
