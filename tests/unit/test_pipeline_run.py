"""conveyor.pipeline in process: the data step, a whole run into a temporary home (MLflow on
SQLite, Conveyor's store on SQLite), a run stopped by its gates, and the DVC stages."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from conveyor.errors import GateFailedError
from conveyor.pipeline.dataset import prepare_data
from conveyor.pipeline.dvc_stages import render_stages
from conveyor.pipeline.run import run_pipeline, write_run_info
from conveyor.settings import Settings
from conveyor.spec.loader import load_spec
from conveyor.store import Store


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url).create()
    yield store
    store.close()


def test_the_data_step_splits_by_the_spec(wine_project: Callable[..., Path]) -> None:
    project = wine_project()
    spec = load_spec(project / "conveyor.yaml")
    data = prepare_data(spec, project)
    assert data.source == "sklearn:wine"
    assert len(data.x_test) == pytest.approx(0.25 * 178, abs=1)  # the default test fraction
    assert len(data.x_train) + len(data.x_test) == 178
    assert data.schema.target == "target" and len(data.schema.features) == 13
    assert set(data.y_test) == set(data.y_train) == {0, 1, 2}  # stratified: every class in both
    again = prepare_data(spec, project)
    assert again.fingerprint == data.fingerprint
    assert list(again.x_test.index) == list(data.x_test.index)  # seeded


def test_a_run_trains_exports_gates_and_registers(
    wine_project: Callable[..., Path], settings: Settings, store: Store, tmp_path: Path
) -> None:
    project = wine_project()
    steps: list[str] = []
    result = run_pipeline(
        load_spec(project / "conveyor.yaml"), project, settings, store,
        progress=lambda step, message: steps.append(step),
    )  # fmt: skip
    assert result.registered is not None and result.registered.version == "1"
    assert result.runtime == "onnx"
    assert result.metrics["accuracy"] > 0.8
    assert result.gates["passed"] is True
    assert {"data", "tracking", "train", "evaluate", "register"} <= set(steps)
    client = MlflowClient(settings.tracking_uri)
    version = client.get_model_version("wine", "1")
    assert version.run_id == result.run_id
    assert version.tags["conveyor.stage"] == "staging"
    assert str(client.get_model_version_by_alias("wine", "staging").version) == "1"
    run = client.get_run(result.run_id)
    assert run.data.metrics["accuracy"] == result.metrics["accuracy"]
    assert run.data.tags["conveyor.gates"] == "passed"
    info = json.loads(write_run_info(result, tmp_path / "run_info.json").read_text())
    assert info["registered_version"] == "1" and info["run_id"] == result.run_id


def test_a_failed_gate_registers_nothing(
    wine_project: Callable[..., Path], settings: Settings, store: Store
) -> None:
    # so regularised that it predicts one class (accuracy ~0.4); YAML reads 1e-06 as text
    project = wine_project(C="0.000001")
    with pytest.raises(GateFailedError, match="accuracy"):
        run_pipeline(load_spec(project / "conveyor.yaml"), project, settings, store)
    client = MlflowClient(settings.tracking_uri)
    assert client.search_registered_models() == []
    experiment = client.get_experiment_by_name("wine")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["conveyor.gates"] == "failed"


def test_dvc_stages_depend_on_a_file_source(tmp_path: Path) -> None:
    (tmp_path / "conveyor.yaml").write_text(
        "name: m\ntask: regression\ndata: {source: data/train.csv, target: y}\n"
        "model: {estimator: sklearn.linear_model.Ridge}\n",
        encoding="utf-8",
    )
    stages = yaml.safe_load(render_stages(load_spec(tmp_path / "conveyor.yaml")))["stages"]
    assert "data/train.csv" in stages["validate"]["deps"]
    assert stages["train"]["cmd"].startswith("conveyor run")
    assert set(stages["validate"]["deps"]) < set(stages["train"]["deps"])
