"""`conveyor adopt`: give a version that plain MLflow registered what Conveyor writes for its
own versions, computed from reference data instead of a training run, so drift, online
accuracy, alerts and rollouts work for it as for a Conveyor-trained version.

From the reference rows (the data the model was trained or validated on) and the model's own
predictions on them: the schema (the signature's columns, with the kinds, ranges and categories
the data shows, and the classes when the target is given), the reference profile (per-feature
bins and the predictions' distribution), and with ``--target`` the metrics on those rows (the
baseline online accuracy is compared with). They are written into the version's logged model
as ``extra_files/`` (schema.json, profile.json, monitoring.json, metrics.json), tagged, and
audited; the model itself is not touched.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import DataError, Problem, UserError
from conveyor.registry import tags as T
from conveyor.registry.client import mlflow_errors

if TYPE_CHECKING:
    from conveyor.registry.stages import ModelRegistry

ADOPTED = "conveyor.adopted"


@dataclass(frozen=True)
class Adopted:
    name: str
    version: str
    rows: int
    features: int
    classification: bool
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def adopt(
    registry: ModelRegistry,
    name: str,
    version: str,
    reference: Path,
    target: str | None,
    actor: str,
    task: str | None = None,
) -> Adopted:
    import mlflow

    from conveyor.data.loading import load_dataset
    from conveyor.data.profile import build_profile
    from conveyor.data.schema import infer_schema
    from conveyor.serving.bundle import BUNDLE_DIR, ModelIdentity, read_mlflow_model
    from conveyor.serving.runtime import PyfuncRuntime
    from conveyor.spec.models import MonitoringSpec
    from conveyor.store.audit import AuditEvent
    from conveyor.training.evaluation import Predictions, compute_metrics
    from conveyor.training.features import prepare_features

    info = registry.get(name, version)
    with mlflow_errors(f"model {name!r} has no version {version}"):
        mv = registry.client.get_model_version(name, version)
    source = str(mv.source or "")
    model_id = getattr(mv, "model_id", None) or (
        source.removeprefix("models:/") if source.startswith("models:/m-") else None
    )
    if not model_id:
        raise UserError(
            f"{name} version {version} was not registered from an MLflow logged model "
            "(MLflow 3's log_model); register it again from one to adopt it"
        )
    frame = load_dataset(str(reference), Path.cwd())
    with tempfile.TemporaryDirectory() as tmp:
        with mlflow_errors(f"model {name!r} has no version {version}"):
            local = Path(
                mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=tmp)
            )
        if (local / BUNDLE_DIR / "schema.json").exists():
            raise UserError(f"{name} version {version} already carries Conveyor's bundle")
        bundle = read_mlflow_model(local, ModelIdentity(name, version))
        names = bundle.schema.names
        missing = [n for n in names if n not in frame.columns]
        if target is not None and target not in frame.columns:
            missing.append(target)
        if missing:
            raise DataError(
                str(reference), [Problem(n, "column missing from the reference") for n in missing]
            )
        runtime = PyfuncRuntime(bundle)
        x = prepare_features(frame, bundle.schema)
        output = runtime.predict({n: x[n].to_numpy() for n in names}, len(x))
        predictions = output.predictions
        classification = _classification(task, predictions, frame[target] if target else None)
        y = frame[target] if target else predictions
        schema_frame = frame[names].assign(**{target or "prediction": y})
        schema = infer_schema(schema_frame, names, target or "prediction", classification)
        profile = build_profile(frame, schema, predictions, classification)
        metrics: dict[str, float] = {}
        if target is not None:
            metrics = compute_metrics(
                frame[target].to_numpy(), Predictions(predictions, None, []), classification
            )
        files = {
            "schema.json": schema.to_json(),
            "profile.json": json.dumps(profile),
            "monitoring.json": MonitoringSpec().model_dump_json(),
            "metrics.json": json.dumps({"holdout": metrics, "reference_rows": len(frame)}),
        }
        out = Path(tmp) / "extra"
        out.mkdir()
        for file, text in files.items():
            (out / file).write_text(text, encoding="utf-8")
        with registry.store.locked(f"model:{name}") as conn, mlflow_errors():
            registry.client.log_model_artifacts(model_id, str(out), artifact_path=BUNDLE_DIR)
            registry.client.set_model_version_tag(name, version, ADOPTED, str(reference.name))
            registry.client.set_model_version_tag(name, version, T.RUNTIME, "pyfunc")
            for key, value in metrics.items():
                registry.client.set_model_version_tag(
                    name, version, T.METRIC_PREFIX + key, str(value)
                )
            registry.audit.record(
                AuditEvent(
                    name, version, "adopt", actor, info.stage, info.stage,
                    f"reference {reference.name} ({len(frame)} rows)",
                    details={"target": target, "metrics": metrics},
                ),
                conn,
            )  # fmt: skip
    return Adopted(name, version, len(frame), len(names), classification, metrics)


def _classification(task: str | None, predictions: Any, target: Any) -> bool:
    """``--task`` when given; else a classifier predicts labels (strings, booleans or a few
    integers), a regressor numbers."""
    import numpy as np

    if task is not None:
        if task not in ("classification", "regression"):
            raise UserError(f"--task {task!r}: classification or regression")
        return task == "classification"
    values = np.asarray(target if target is not None else predictions)
    if values.dtype.kind in "OUSb":
        return True
    if values.dtype.kind in "iu":
        return len(np.unique(values)) <= 50
    return bool(
        values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0) and len(np.unique(values)) <= 20
    )
