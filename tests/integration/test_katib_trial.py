"""The Katib trial's own command, run here as the Job would run it: Katib's substitutions made,
its StdOut collector's filter applied to what the command prints, and the trial in MLflow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import CliResult
from tests.unit.test_deploy_k8s import IMAGE
from tests.unit.test_deploy_katib import SPEC

pytestmark = pytest.mark.integration

# Katib's default metrics filter (pkg/metricscollector/v1beta1/common/const.go, DefaultFilter)
KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
BIN = Path(sys.executable).parent


def trial_command(cli: Callable[..., CliResult], tmp_path: Path, project: Path) -> list[str]:
    out = tmp_path / "k8s"
    rendered = cli(
        "k8s", "render", "wine", "--version", "1", "--image", IMAGE, "--out", str(out),
        "--katib", "--project", str(project),
    )  # fmt: skip
    assert rendered.exit_code == 0, rendered.stderr
    exp = yaml.safe_load((out / "katib" / "experiment.yaml").read_text())
    job = exp["spec"]["trialTemplate"]["trialSpec"]
    return list(job["spec"]["template"]["spec"]["containers"][0]["command"])


def run_as_katib(command: list[str], values: dict[str, str], project: Path) -> str:
    """Substitute as Katib does, mount the project where the ConfigMap would be, run."""
    argv = []
    for arg in command:
        for name, value in values.items():
            arg = arg.replace("${trialParameters.%s}" % name, value)  # noqa: UP031
        argv.append(arg.replace("/etc/conveyor/project", str(project)))
    argv[0] = str(BIN / argv[0])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_trial_prints_the_objective_for_katib_and_logs_to_mlflow(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(SPEC)
    command = trial_command(cli, tmp_path, project)
    values = {
        "max_depth": "6",
        "min_samples_leaf": "2",
        "max_features": "0.5",
        "criterion": "entropy",
        "bootstrap": "False",
        "trialName": "wine-tuning-abc123",
    }
    stdout = run_as_katib(command, values, project)
    metrics = {m[0]: float(m[1]) for m in KATIB_FILTER.findall(stdout)}
    assert list(metrics) == ["accuracy"]  # nothing else on stdout looks like a metric
    assert 0.8 < metrics["accuracy"] <= 1.0

    again = run_as_katib(command, values, project)
    assert again == stdout  # seeded: the same trial scores the same
    shallow = run_as_katib(
        command, {**values, "max_depth": "2", "max_features": "0.2", "trialName": "other"}, project
    )
    assert shallow != stdout  # and the parameters really reach the estimator

    runs = cli("models", "list", "--json")  # the registry is reachable; find the trial run
    assert runs.exit_code == 0
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{os.environ['CONVEYOR_HOME']}/mlflow.db")
    found = mlflow.search_runs(
        experiment_names=["wine"], filter_string="tags.`conveyor.trial` = 'wine-tuning-abc123'"
    )
    assert len(found) == 2
    assert found["params.criterion"].tolist() == ["entropy", "entropy"]
    assert found["params.bootstrap"].tolist() == ["False", "False"]
    assert found["metrics.cv_accuracy"].tolist() == pytest.approx([metrics["accuracy"]] * 2)


def test_a_value_outside_the_search_space_fails_the_trial(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(SPEC)
    result = cli(
        "tune", "--project", str(project), "--trial",
        "--set", "max_depth=six", "--set", "criterion=log_loss", "--set", "depth=3",
    )  # fmt: skip
    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert "max_depth=six: must be a number" in text
    assert "criterion=log_loss: must be one of gini, entropy" in text
    assert "depth=3: not in tuning.search_space" in text
    assert "min_samples_leaf=...: missing" in text
