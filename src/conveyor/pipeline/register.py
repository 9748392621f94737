"""Log the model with its bundle (ONNX, schema, profile, gate report) and register a version."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.bundle.model import BUNDLE_DIR, write_bundle
from conveyor.bundle.sources import registered_schema
from conveyor.errors import NotFoundError
from conveyor.registry import semver
from conveyor.registry import tags as T
from conveyor.registry.client import mlflow_errors
from conveyor.spec.loader import spec_hash
from conveyor.store.audit import AuditEvent

if TYPE_CHECKING:
    from conveyor.pipeline.dataset import PreparedData
    from conveyor.pipeline.evaluate import Candidate, Evaluation
    from conveyor.registry.stages import ModelRegistry
    from conveyor.spec.models import ProjectSpec

MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class RegisteredVersion:
    version: str
    semver: str
    semver_reason: str
    model_uri: str
    onnx_uri: str | None


def pip_requirements() -> list[str]:
    """Pinned from what is installed, so MLflow does not spend seconds inferring them."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for dist in (
        "mlflow",
        "scikit-learn",
        "cloudpickle",
        "numpy",
        "pandas",
        "scipy",
        "onnxruntime",
    ):
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return reqs


def git_commit(base_dir: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=base_dir, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _bundle_files(spec: ProjectSpec, data: PreparedData, evaluation: Evaluation) -> list[str]:
    # the version carries what production monitoring judges it by
    paths = write_bundle(
        evaluation.workdir,
        schema=data.schema,
        profile=evaluation.profile,
        monitoring=spec.monitoring,
        metrics={"holdout": evaluation.metrics, "slices": evaluation.slice_metrics},
        gate_report=evaluation.report.to_dict(),
        onnx=evaluation.onnx.model,
        onnx_inputs=evaluation.onnx.input_names,
        online_features=data.online,
    )
    return [str(path) for path in paths]


@dataclass(frozen=True)
class LoggedCandidate:
    """A model logged with its bundle in a run, with everything its version will carry: the
    first half of registering, kept in the run as ``conveyor/registration.json`` so that the
    second half can run later, in another process (a pipeline step gated on the gates)."""

    name: str
    task: str
    run_id: str
    model_uri: str
    model_id: str | None
    tags: dict[str, str]
    schema: dict[str, Any]
    has_onnx: bool
    gates: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoggedCandidate:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


REGISTRATION_ARTIFACT = "conveyor/registration.json"


def log_candidate(
    spec: ProjectSpec,
    data: PreparedData,
    evaluation: Evaluation,
    candidate: Candidate,
    run_id: str,
    base_dir: Path,
) -> LoggedCandidate:
    """Log the model and its bundle in the active run; the version's tags, not yet a version."""
    import mlflow
    from mlflow.models import infer_signature

    sample = data.x_test.head(5)
    signature = infer_signature(sample, evaluation.predictions.labels[:5])
    with mlflow_errors():
        info = mlflow.sklearn.log_model(
            candidate.model,
            name=MODEL_ARTIFACT,
            serialization_format="cloudpickle",  # any estimator or user train_function output
            pip_requirements=pip_requirements(),
            extra_files=_bundle_files(spec, data, evaluation),
            signature=signature,
        )
    estimator = spec.model.estimator or spec.model.train_function or ""
    tags: dict[str, str] = {
        T.DATA_FINGERPRINT: data.fingerprint,
        **data.lineage,
        T.SPEC_HASH: spec_hash(spec),
        T.PARAMS_HASH: candidate.params_hash,
        T.ESTIMATOR: estimator,
        T.GATES: evaluation.report.summary(),
        T.RUNTIME: evaluation.runtime,
        T.RUN_ID: run_id,
        T.REQUIRE_APPROVAL: "true" if spec.registry.require_approval else "false",
        T.STAGE: T.STAGING,
        **{f"{T.METRIC_PREFIX}{k}": f"{v:.6g}" for k, v in evaluation.metrics.items()},
    }
    commit = git_commit(base_dir)
    if commit:
        tags[T.GIT_COMMIT] = commit
    logged = LoggedCandidate(
        name=spec.name,
        task=spec.task.value,
        run_id=run_id,
        model_uri=info.model_uri,
        model_id=info.model_id,
        tags=tags,
        schema=data.schema.to_dict(),
        has_onnx=evaluation.onnx.model is not None,
        gates=evaluation.report.summary(),
    )
    with mlflow_errors():
        mlflow.log_dict(logged.to_dict(), REGISTRATION_ARTIFACT)
    return logged


def register_candidate(
    spec: ProjectSpec,
    data: PreparedData,
    evaluation: Evaluation,
    candidate: Candidate,
    registry: ModelRegistry,
    run_id: str,
    base_dir: Path,
    actor: str,
) -> RegisteredVersion:
    """Log the model with its bundle, then register it: ``conveyor run``'s last step."""
    logged = log_candidate(spec, data, evaluation, candidate, run_id, base_dir)
    return register_logged(logged, registry, actor)


def read_logged(registry: ModelRegistry, run_id: str) -> LoggedCandidate:
    """The candidate a ``conveyor run --no-register`` logged in ``run_id``."""
    import mlflow

    missing = (
        f"run {run_id} has no logged candidate ({REGISTRATION_ARTIFACT}): register a run made "
        "by conveyor run --no-register whose gates passed"
    )
    with mlflow_errors(missing):  # an unreachable registry stays "unavailable"
        data = mlflow.artifacts.load_dict(f"runs:/{run_id}/{REGISTRATION_ARTIFACT}")
    return LoggedCandidate.from_dict(data)


def register_logged(
    logged: LoggedCandidate, registry: ModelRegistry, actor: str
) -> RegisteredVersion:
    """Make the logged candidate a version: semver, tags, the staging alias, the audit event.
    Registering the same run again returns the version it already became."""
    from conveyor.data.schema import Schema

    client = registry.client
    name, run_id = logged.name, logged.run_id
    tags = dict(logged.tags)
    lineage = semver.Lineage(
        Schema.from_dict(logged.schema),
        tags.get(T.DATA_FINGERPRINT, ""),
        tags.get(T.PARAMS_HASH, ""),
        tags.get(T.ESTIMATOR, ""),
    )
    with registry.store.locked(f"model:{name}") as conn, mlflow_errors():
        if _exists(client, name):
            for existing in registry.versions(name):
                if existing.run_id == run_id:  # a retry of a step that registered already
                    return RegisteredVersion(
                        existing.version,
                        existing.semver,
                        existing.tags.get(T.SEMVER_REASON, ""),
                        logged.model_uri,
                        existing.tags.get(T.ONNX_URI),
                    )
        label, reason = _semver(registry, name, lineage)
        tags[T.SEMVER] = label
        tags[T.SEMVER_REASON] = reason
        if not _exists(client, name):
            client.create_registered_model(name, description=f"Conveyor model ({logged.task})")
        # model_id: a tracking server rejects a models:/m-... source without it
        mv = client.create_model_version(
            name, logged.model_uri, run_id=run_id, tags=tags, model_id=logged.model_id
        )
        version = str(mv.version)
        onnx_uri = None
        if logged.has_onnx:
            # the registry form downloads everywhere; models:/m-<id>/... reads as a model name
            onnx_uri = f"models:/{name}/{version}/{BUNDLE_DIR}/model.onnx"
            client.set_model_version_tag(name, version, T.ONNX_URI, onnx_uri)
        previous = registry.by_alias(name, T.STAGING)
        client.set_registered_model_alias(name, T.STAGING, version)
        registry.audit.record(
            AuditEvent(
                name,
                version,
                "register",
                actor,
                None,
                T.STAGING,
                f"gates {logged.gates}",
                details={"run_id": run_id, "semver": label, "at": datetime.now(UTC).isoformat()},
            ),
            conn,
        )
        if previous is not None and previous.stage == T.STAGING:
            client.set_model_version_tag(name, previous.version, T.STAGE, T.ARCHIVED)
            registry.audit.record(
                AuditEvent(
                    name,
                    previous.version,
                    "supersede",
                    actor,
                    T.STAGING,
                    T.ARCHIVED,
                    f"version {version} took the staging alias",
                ),
                conn,
            )
        client.set_tag(run_id, "conveyor.registered_version", version)
        client.set_tag(run_id, T.SEMVER, label)
    return RegisteredVersion(version, label, reason, logged.model_uri, onnx_uri)


def _exists(client: Any, name: str) -> bool:
    try:
        with mlflow_errors():
            client.get_registered_model(name)
    except NotFoundError:
        return False
    return True


def _semver(registry: ModelRegistry, name: str, current: semver.Lineage) -> tuple[str, str]:
    if not _exists(registry.client, name):
        return semver.next_version(None, None, current)
    versions = [v for v in registry.versions(name) if v.semver]
    if not versions:
        return semver.next_version(None, None, current)
    last = max(versions, key=lambda v: semver.parse(v.semver))
    schema = registered_schema(registry.client, name, last.version)
    if schema is None:
        return semver.next_version(None, None, current)
    previous = semver.Lineage(
        schema,
        last.tags.get(T.DATA_FINGERPRINT, ""),
        last.tags.get(T.PARAMS_HASH, ""),
        last.tags.get(T.ESTIMATOR, ""),
    )
    return semver.next_version(last.semver, previous, current)
