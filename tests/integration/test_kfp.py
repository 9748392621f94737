"""The project as a Kubeflow pipeline: compiled with kfp's compiler and loaded back, then run
whole by kfp.local (SubprocessRunner, no cluster) on the wine example: the version registered
with its lineage; a failing gate skips the register step."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import CliResult

pytestmark = pytest.mark.integration
kfp = pytest.importorskip("kfp", reason="Kubeflow Pipelines is an optional extra: '.[kfp]'")


def test_compile_and_load_the_ir(
    cli: Callable[..., CliResult], wine_project: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "pipeline.yaml"
    done = cli("kfp", "compile", "--project", str(wine_project()), "--out", str(out),
               "--image", "registry.example/conveyor:1.2", "--env",
               "CONVEYOR_TRACKING_URI=http://mlflow:5000", "--json")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    ir = yaml.safe_load(out.read_text())
    assert ir["pipelineInfo"]["name"] == "wine-conveyor"
    tasks = ir["root"]["dag"]["tasks"]
    assert set(tasks) == {"validate-step", "train-step", "condition-1"}
    condition = tasks["condition-1"]["triggerPolicy"]["condition"]
    assert "train-step" in condition and "!= ''" in condition  # the gates passed
    assert tasks["condition-1"]["taskInfo"]["name"] == "gates-passed"
    register = ir["components"]["comp-condition-1"]["dag"]["tasks"]["register-step"]
    assert register["inputs"]["parameters"]["run_id"]["componentInputParameter"]
    executors = ir["deploymentSpec"]["executors"]
    for executor in executors.values():
        container = executor["container"]
        assert container["image"] == "registry.example/conveyor:1.2"
        assert {"name": "CONVEYOR_TRACKING_URI", "value": "http://mlflow:5000"} in container["env"]
    loaded = kfp.components.load_component_from_file(str(out))  # kfp reads its own IR back
    assert loaded.name == "wine-conveyor"
    bad = cli("kfp", "compile", "--project", str(wine_project()), "--env", "NOEQUALS")
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.stderr


# kfp.local warns that the steps name a container image it will not use: running them as
# subprocesses of this Python environment is the point of the test
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task:RuntimeWarning:kfp")
def test_the_pipeline_runs_locally_and_registers_only_past_the_gates(
    wine_project: Callable[..., Path], home: Path, tmp_path: Path
) -> None:
    from kfp import local

    from conveyor.deploy.kfp import build_pipeline
    from conveyor.registry.client import connect
    from conveyor.settings import Settings

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    env = {"CONVEYOR_HOME": os.environ["CONVEYOR_HOME"]}
    good = build_pipeline("wine", "unused-locally", "/project", env)
    good(project_dir=str(wine_project()))
    client = connect(Settings())
    (version,) = client.search_model_versions("name='wine'")
    assert version.tags["conveyor.stage"] == "staging"
    assert version.tags["conveyor.data_fingerprint"] and version.tags["conveyor.gates"]
    run_id = version.run_id
    assert run_id is not None
    run = client.get_run(run_id)
    assert run.data.tags["conveyor.registered_version"] == str(version.version)
    registration = json.loads(
        Path(client.download_artifacts(run_id, "conveyor/registration.json")).read_text()
    )
    assert registration["run_id"] == version.run_id

    strict = wine_project(min_accuracy=0.999, directory="strict")  # a gate that fails
    build_pipeline("wine", "unused-locally", "/project", env)(project_dir=str(strict))
    assert len(client.search_model_versions("name='wine'")) == 1  # register never ran
    runs = client.search_runs([run.info.experiment_id])
    assert len(runs) == 2 and {r.data.tags.get("conveyor.gates") for r in runs} == {
        "passed",
        "failed",
    }
