"""A Katib ``Experiment`` (kubeflow.org/v1beta1) from the project's ``tuning:`` section.

The search space, the objective (the tuning metric and whether higher is better) and the trial
budget come from the spec; every trial is a Job running `conveyor tune --trial --set NAME=VALUE`
in the Conveyor image, which prints ``metric=value`` for Katib's StdOut collector and logs the
trial as an MLflow run. The project file reaches the pods through a ConfigMap; its data source
must be reachable from the cluster (a built-in dataset, a ``dvc://`` path with a remote, or a
path inside the image).
"""

from __future__ import annotations

from typing import Any

from conveyor.deploy import pods
from conveyor.deploy.k8s import HOME, RenderOptions, labels, meta
from conveyor.errors import UserError
from conveyor.spec.models import ParamRange, ProjectSpec

API_VERSION = "kubeflow.org/v1beta1"
ALGORITHMS = ("tpe", "random", "grid", "bayesianoptimization", "cmaes", "sobol", "multivariate-tpe")
PROJECT_MOUNT = "/etc/conveyor/project"
CONTAINER = "training"
TRIAL_NAME = "trialName"


def experiment_name(o: RenderOptions) -> str:
    return f"{o.app}-tuning"[:63].rstrip("-")


def project_config_map(o: RenderOptions, spec_text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(o, f"{o.app}-project", "tuning"),
        "data": {"conveyor.yaml": spec_text},
    }


def experiment(
    o: RenderOptions,
    spec: ProjectSpec,
    parallel: int = 2,
    algorithm: str = "tpe",
) -> dict[str, Any]:
    """The Experiment for ``spec.tuning``; ``UserError`` naming what cannot be expressed."""
    tuning = spec.tuning
    if tuning is None:
        raise UserError("--katib needs a tuning: section in conveyor.yaml (its search space)")
    if algorithm not in ALGORITHMS:
        raise UserError(f"--algorithm {algorithm!r}: one of {', '.join(ALGORITHMS)}")
    if parallel < 1:
        raise UserError(f"--parallel {parallel}: at least 1")
    metric = tuning.metric or spec.primary_metric()
    names = list(tuning.search_space)
    trial_parameters = [
        {"name": name, "reference": name, "description": f"{spec.model.estimator} {name}"}
        for name in names
    ]
    trial_parameters.append(
        {"name": TRIAL_NAME, "reference": "${trialSpec.Name}", "description": "the trial's name"}
    )
    settings = [{"name": "random_state", "value": str(spec.data.seed)}]
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": meta(o, experiment_name(o), "tuning"),
        "spec": {
            "objective": {
                "type": "maximize" if spec.higher_is_better(metric) else "minimize",
                "objectiveMetricName": metric,
            },
            "algorithm": {
                "algorithmName": algorithm,
                "algorithmSettings": settings if algorithm in ("tpe", "random") else [],
            },
            "parallelTrialCount": min(parallel, tuning.trials),
            "maxTrialCount": tuning.trials,
            "maxFailedTrialCount": max(1, tuning.trials // 5),
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "parameters": [parameter(name, rng) for name, rng in tuning.search_space.items()],
            "trialTemplate": {
                "primaryContainerName": CONTAINER,
                "successCondition": 'status.conditions.#(type=="Complete")#|#(status=="True")#',
                "failureCondition": 'status.conditions.#(type=="Failed")#|#(status=="True")#',
                "trialParameters": trial_parameters,
                "trialSpec": trial_job(o, names),
            },
        },
    }


def parameter(name: str, rng: ParamRange) -> dict[str, Any]:
    """One searched parameter in Katib's terms (bounds and choices as strings)."""
    if rng.type == "categorical":
        assert rng.choices is not None
        return {
            "name": name,
            "parameterType": "categorical",
            "feasibleSpace": {"list": [_text(c) for c in rng.choices]},
        }
    assert rng.low is not None and rng.high is not None
    integer = rng.type == "int"
    return {
        "name": name,
        "parameterType": "int" if integer else "double",
        "feasibleSpace": {
            "min": _text(int(rng.low) if integer else rng.low),
            "max": _text(int(rng.high) if integer else rng.high),
            "distribution": "logUniform" if rng.log else "uniform",
        },
    }


def trial_job(o: RenderOptions, names: list[str]) -> dict[str, Any]:
    """The batch/v1 Job of one trial; Katib fills in ``${trialParameters.NAME}``."""
    command = [
        "conveyor",
        "tune",
        "--trial",
        "--project",
        PROJECT_MOUNT,
        "--trial-name",
        "${trialParameters.%s}" % TRIAL_NAME,  # noqa: UP031  (Katib's own placeholder syntax)
    ]
    for name in names:
        command += ["--set", f"{name}=${{trialParameters.{name}}}"]
    container = {
        "name": CONTAINER,
        "image": o.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "envFrom": pods.env_sources(o),
        "env": [{"name": "CONVEYOR_HOME", "value": HOME}],
        "resources": pods.resources(o),
        "securityContext": pods.container_security(),
        "volumeMounts": [
            *pods.writable_mounts(),
            {"name": "project", "mountPath": PROJECT_MOUNT, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {
                    "labels": labels(o, "tuning"),
                    "annotations": {"sidecar.istio.io/inject": "false"},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": o.app,
                    "automountServiceAccountToken": False,
                    "securityContext": pods.pod_security(),
                    "containers": [container],
                    "volumes": [
                        *pods.writable_volumes(),
                        {"name": "project", "configMap": {"name": f"{o.app}-project"}},
                    ],
                },
            },
        },
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return repr(value)  # "100.0": a double stays a double
    return str(value)
