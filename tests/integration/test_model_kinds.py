"""Regression, a user's train_function, and an estimator without an ONNX converter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_diabetes_regression_example(cli: Callable, tmp_path: Path) -> None:
    project = tmp_path / "reg"
    assert cli("init", str(project), "--example", "diabetes").exit_code == 0
    result = cli("run", "--project", str(project), "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert set(out["metrics"]) == {"rmse", "mae", "r2"}
    assert out["runtime"] == "onnx"
    parity = next(g for g in out["gates"]["gates"] if g["name"] == "onnx parity")
    assert parity["outcome"] == "passed"


def test_train_function_is_called_with_params(cli: Callable, tmp_path: Path) -> None:
    project = tmp_path / "custom"
    project.mkdir()
    (project / "my_training.py").write_text(
        "from sklearn.tree import DecisionTreeClassifier\n"
        "CALLS = []\n"
        "def train(x, y, params):\n"
        "    assert list(x.columns)[:2] == ['sepal length (cm)', 'sepal width (cm)']\n"
        "    return DecisionTreeClassifier(max_depth=params['depth'], random_state=0).fit(x, y)\n"
    )
    (project / "conveyor.yaml").write_text(
        "name: iris-custom\ntask: classification\n"
        "data: {source: sklearn:iris, target: target}\n"
        "model: {train_function: 'my_training:train', params: {depth: 3}}\n"
        "gates:\n  min: {accuracy: 0.8}\n  onnx_parity: {probability_tolerance: 0.5}\n"
    )
    result = cli("run", "--project", str(project), "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert out["params"] == {"depth": 3}
    assert out["metrics"]["accuracy"] >= 0.8


# LabelSpreading normalises its label distributions with a division sklearn lets warn
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning:sklearn")
def test_no_onnx_converter_falls_back_to_pyfunc(cli: Callable, tmp_path: Path) -> None:
    project = tmp_path / "hgb"
    project.mkdir()
    # skl2onnx has no converter for label spreading
    (project / "conveyor.yaml").write_text(
        "name: hgb\ntask: classification\n"
        "data: {source: sklearn:breast_cancer, target: target}\n"
        "model:\n  estimator: sklearn.semi_supervised.LabelSpreading\n"
        "  params: {max_iter: 50}\n"
    )
    result = cli("run", "--project", str(project), "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert out["runtime"] == "pyfunc"
    assert out["onnx_uri"] is None
    parity = next(g for g in out["gates"]["gates"] if g["name"] == "onnx parity")
    assert parity["outcome"] == "skipped"
    assert "MLflow pyfunc" in parity["detail"]
    shown = cli("models", "show", "hgb", "1", "--json").json()
    assert shown["tags"]["conveyor.runtime"] == "pyfunc"


def test_parity_failure_stops_registration(cli: Callable, tmp_path: Path) -> None:
    project = tmp_path / "rf"
    project.mkdir()
    (project / "conveyor.yaml").write_text(
        "name: rf\ntask: classification\n"
        "data: {source: sklearn:wine, target: target}\n"
        "model:\n  estimator: sklearn.ensemble.RandomForestClassifier\n"
        "  params: {n_estimators: 30}\n"
        "gates:\n  onnx_parity: {probability_tolerance: 1.0e-12}\n"
    )
    result = cli("run", "--project", str(project), "--json")
    assert result.exit_code == 3
    report = result.json()
    assert "onnx parity" in report["error"]
    assert "float32" in report["error"]  # why
    assert "gates.onnx_parity.on_mismatch: pyfunc" in report["error"]  # and what to set
    assert cli("models", "list", "--json").json() == []
    spec = (project / "conveyor.yaml").read_text()
    (project / "conveyor.yaml").write_text(
        spec.replace(
            "{probability_tolerance: 1.0e-12}",
            "{probability_tolerance: 1.0e-12, on_mismatch: pyfunc}",
        )
    )
    served = cli("run", "--project", str(project), "--json")
    assert served.exit_code == 0, served.stderr
    assert served.json()["runtime"] == "pyfunc"
    gate = next(g for g in served.json()["gates"]["gates"] if g["name"] == "onnx parity")
    assert gate["outcome"] == "skipped" and "served through MLflow pyfunc" in gate["detail"]


def test_bundle_holds_schema_profile_and_onnx(cli: Callable, wine_project: Callable) -> None:
    import mlflow

    project = wine_project()
    out = cli("run", "--project", str(project), "--json").json()
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=out["registry_uri"]))
    bundle = local / "extra_files"
    assert (bundle / "model.onnx").stat().st_size > 0
    schema = json.loads((bundle / "schema.json").read_text())
    assert schema["features"][0]["name"] == "alcohol"
    assert schema["classes"] == [0, 1, 2]
    profile = json.loads((bundle / "profile.json").read_text())
    alcohol = profile["features"]["alcohol"]
    assert sum(alcohol["bin_counts"]) == profile["rows"]
    assert len(alcohol["bin_edges"]) == len(alcohol["bin_counts"]) + 1
    assert sum(profile["prediction"]["category_counts"].values()) > 0


def test_onnx_uri_downloads(cli: Callable, wine_project: Callable, tmp_path: Path) -> None:
    import mlflow
    import onnxruntime as ort

    out = cli("run", "--project", str(wine_project()), "--json").json()
    assert out["onnx_uri"] == "models:/wine/1/extra_files/model.onnx"
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=out["onnx_uri"], dst_path=str(tmp_path)
    )
    session = ort.InferenceSession(local, providers=["CPUExecutionProvider"])
    assert len(session.get_inputs()) == 13
    shown = cli("models", "show", "wine", "1", "--json").json()
    assert shown["tags"]["conveyor.onnx_uri"] == out["onnx_uri"]
