"""Training from a Feast feature store, for real: the drivers example's Feast repository (file
offline store, SQLite online store) is applied with Feast's own CLI, and `conveyor run` joins
the features to the labelled rows through `get_historical_features`, with the repository, the
feature references and each view's definition digest as the version's lineage. A value written
after a label's event time never reaches that label's row.

Feast pins pandas < 3, so it lives in its own venv (.venv-feast, scripts/feast-venv.sh) with
Conveyor installed beside it; these tests run Conveyor and Feast from there."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FEAST_BIN = ROOT / ".venv-feast" / "bin"
needs_feast = pytest.mark.skipif(
    not (FEAST_BIN / "feast").exists(), reason="Feast not installed (scripts/feast-venv.sh)"
)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    return env | {"CONVEYOR_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}


def _run(args: list[str], cwd: Path, env: dict[str, str], code: int = 0) -> str:
    """The command's stdout (its stderr too when it is expected to fail)."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == code, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + (done.stderr if code else "")


@pytest.fixture
def drivers(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The drivers example, its Feast repository applied with Feast's CLI (the README's
    commands)."""
    env = _env(tmp_path / "home")
    _run([str(FEAST_BIN / "conveyor"), "init", "drivers", "--example", "feast"], tmp_path, env)
    project = tmp_path / "drivers"
    _run([str(FEAST_BIN / "feast"), "-c", "feature_repo", "apply"], project, env)
    return project, env


@needs_feast
def test_the_drivers_example_trains_from_the_offline_store(
    drivers: tuple[Path, dict[str, str]],
) -> None:
    project, env = drivers
    info = json.loads(_run([str(FEAST_BIN / "conveyor"), "run", "--json"], project, env))
    assert info["registered_version"] == "1" and info["metrics"]["accuracy"] > 0.8
    shown = json.loads(
        _run(
            [str(FEAST_BIN / "conveyor"), "models", "show", "drivers", "1", "--json"], project, env
        )
    )
    tags = shown["tags"]
    assert tags["conveyor.feast.repo"] == "feature_repo"
    assert tags["conveyor.feast.features"].split(",") == [
        "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
        "driver_hourly_stats:avg_daily_trips",
    ]  # fmt: skip
    view, _, digest = tags["conveyor.feast.views"].partition("@")
    assert view == "driver_hourly_stats" and len(digest) == 12
    assert info["runtime"] == "onnx" and info["warnings"] == []  # every label found its features

    (project / "conveyor.yaml").write_text(
        (project / "conveyor.yaml")
        .read_text()
        .replace("driver_hourly_stats:avg_daily_trips", "driver_hourly_stats:no_such_feature")
    )
    refused = _run([str(FEAST_BIN / "conveyor"), "run"], project, env, code=2)
    assert "data.feast.features" in refused and "Traceback" not in refused


POINT_IN_TIME = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import pandas as pd
    from conveyor.data.feast import join_features
    from conveyor.spec.models import FeastSpec

    project = Path(sys.argv[1])
    stats = project / "feature_repo" / "data" / "driver_stats.parquet"
    t = pd.Timestamp("2026-02-01T00:00:00Z")
    pd.DataFrame({
        "driver_id": [1001, 1001, 1002],
        "event_timestamp": [t, t + pd.Timedelta(hours=2), t],
        "conv_rate": [0.1, 0.9, 0.5], "acc_rate": [0.2, 0.8, 0.5],
        "avg_daily_trips": [3, 30, 10],
    }).astype({"conv_rate": "float32", "acc_rate": "float32"}).to_parquet(stats, index=False)
    rows = pd.DataFrame({
        "driver_id": [1001, 1001, 1002],
        "event_timestamp": [t + pd.Timedelta(hours=1), t + pd.Timedelta(hours=3),
                            t - pd.Timedelta(hours=1)],
        "completed": [0, 1, 0],
    })
    spec = FeastSpec(repo="feature_repo", features=["driver_hourly_stats:conv_rate"])
    joined, names, lineage = join_features(spec, rows, project, "labels")
    print(json.dumps({"names": names, "conv_rate": [None if v != v else round(float(v), 3)
                      for v in joined["conv_rate"]], "completed": joined["completed"].tolist()}))
    """
)


@needs_feast
def test_a_value_written_after_the_event_never_reaches_its_row(
    drivers: tuple[Path, dict[str, str]],
) -> None:
    """Driver 1001 has conv_rate 0.1 at t and 0.9 at t+2h: the label at t+1h sees 0.1 (the
    later value would leak the future), the one at t+3h sees 0.9; driver 1002's label comes
    before any value of its own: missing, not borrowed. Rows keep their order."""
    project, env = drivers
    out = _run([str(FEAST_BIN / "python"), "-c", POINT_IN_TIME, str(project)], project, env)
    joined = json.loads(out.strip().splitlines()[-1])
    assert joined == {"names": ["conv_rate"], "conv_rate": [0.1, 0.9, None], "completed": [0, 1, 0]}
