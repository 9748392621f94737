"""A model version on local disk: the MLflow model directory plus Conveyor's bundle files
(``extra_files/``), read by ``read_bundle`` (or, for a plain MLflow model, from its signature
by ``read_mlflow_model``) and written by ``write_bundle`` (`conveyor run`, `conveyor adopt`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conveyor.data.feast import OnlineFeatures
from conveyor.data.schema import Column, Kind, Schema
from conveyor.errors import Problem, UserError
from conveyor.spec.models import MonitoringSpec

BUNDLE_DIR = "extra_files"
SCHEMA_FILE = "schema.json"
ONLINE_FEATURES_FILE = "online_features.json"


@dataclass(frozen=True)
class ModelIdentity:
    """Who a loaded model is, as shown by /model/info and stamped on every prediction."""

    name: str
    version: str
    stage: str = ""
    semver: str = ""
    run_id: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Bundle:
    path: Path
    schema: Schema
    onnx_path: Path | None
    onnx_inputs: list[str]
    identity: ModelIdentity
    profile: dict[str, Any] = field(default_factory=dict)
    monitoring: MonitoringSpec = field(default_factory=MonitoringSpec)
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # "" for a Conveyor bundle; for a plain MLflow model, what serving it lacks (/model/info)
    note: str = ""
    online_features: OnlineFeatures | None = None  # data.feast: entity keys may stand in

    @property
    def classification(self) -> bool:
        return bool(self.schema.classes)


def read_bundle(path: Path, identity: ModelIdentity | None = None) -> Bundle:
    """Read a model directory written by `conveyor run`, or any MLflow model directory with a
    column signature (``read_mlflow_model``); a wrong path is a clear ``UserError``."""
    path = path.resolve()
    extra = path / BUNDLE_DIR
    schema_file = extra / SCHEMA_FILE
    if not (path / "MLmodel").exists():
        raise UserError(f"{path} is not an MLflow model directory (no MLmodel file)")
    if not schema_file.exists():
        return read_mlflow_model(path, identity)
    try:
        schema = Schema.from_dict(json.loads(schema_file.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(str(Problem(str(schema_file), f"unreadable schema: {exc}"))) from None
    onnx_path = extra / "model.onnx"
    inputs_file = extra / "onnx_inputs.json"
    has_onnx = onnx_path.exists() and inputs_file.exists()
    metrics_file = extra / "metrics.json"
    metrics: dict[str, float] = {}
    if metrics_file.exists():
        metrics = dict(json.loads(metrics_file.read_text()).get("holdout", {}))
    profile_file = extra / "profile.json"
    profile = json.loads(profile_file.read_text()) if profile_file.exists() else {}
    monitoring_file = extra / "monitoring.json"
    try:
        monitoring = (
            MonitoringSpec.model_validate_json(monitoring_file.read_text())
            if monitoring_file.exists()
            else MonitoringSpec()  # versions registered before monitoring settings existed
        )
    except ValueError as exc:
        raise UserError(str(Problem(str(monitoring_file), f"unreadable: {exc}"))) from None
    online_file = extra / ONLINE_FEATURES_FILE
    try:
        online = (
            OnlineFeatures(**json.loads(online_file.read_text())) if online_file.exists() else None
        )
    except (ValueError, TypeError) as exc:
        raise UserError(str(Problem(str(online_file), f"unreadable: {exc}"))) from None
    if identity is None:
        identity = ModelIdentity(name=path.name, version="local", stage="local", metrics=metrics)
    elif not identity.metrics:
        identity = ModelIdentity(**{**identity.__dict__, "metrics": metrics})
    return Bundle(
        path=path,
        schema=schema,
        onnx_path=onnx_path if has_onnx else None,
        onnx_inputs=json.loads(inputs_file.read_text()) if has_onnx else [],
        identity=identity,
        profile=profile,
        monitoring=monitoring,
        online_features=online,
    )


def write_bundle(
    out: Path,
    *,
    schema: Schema,
    profile: dict[str, Any],
    monitoring: MonitoringSpec,
    metrics: dict[str, Any],
    gate_report: dict[str, Any],
    onnx: bytes | None = None,
    onnx_inputs: list[str] | None = None,
    online_features: OnlineFeatures | None = None,
) -> list[Path]:
    """The bundle files ``read_bundle`` reads, written into ``out`` (logged as the model's
    ``extra_files/``): the schema, the reference profile, the monitoring settings the version
    is judged by, its metrics (``holdout`` and what else the writer knows), the gate report,
    the ONNX graph with its input names when there is one, and where its features are
    looked up when it was trained on a feature store."""
    texts = {
        SCHEMA_FILE: schema.to_json(),
        "profile.json": json.dumps(profile, indent=1),
        "monitoring.json": monitoring.model_dump_json(indent=2),
        "metrics.json": json.dumps(metrics, indent=2),
        "gate_report.json": json.dumps(gate_report, indent=2),
    }
    if online_features is not None:
        texts[ONLINE_FEATURES_FILE] = json.dumps(online_features.__dict__, indent=2)
    if onnx is not None:
        texts["onnx_inputs.json"] = json.dumps(onnx_inputs or [])
        (out / "model.onnx").write_bytes(onnx)
    for name, text in texts.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in texts] + ([out / "model.onnx"] if onnx is not None else [])


# MLflow column types -> how Conveyor checks the values
_KINDS = {
    "double": Kind.NUMERIC,
    "float": Kind.NUMERIC,
    "long": Kind.NUMERIC,
    "integer": Kind.NUMERIC,
    "boolean": Kind.BOOLEAN,
    "string": Kind.CATEGORICAL,
}
MLFLOW_NOTE = (
    "an MLflow model without Conveyor's bundle: requests are checked against its signature; it "
    "has no training profile, so drift and online accuracy are not judged until adopted"
)


def read_mlflow_model(path: Path, identity: ModelIdentity | None = None) -> Bundle:
    """An MLflow model that `conveyor run` did not write: its input schema from the MLflow
    signature (named columns), served through its pyfunc, without a profile."""
    import yaml

    where = identity_text(path, identity)
    meta = yaml.safe_load((path / "MLmodel").read_text()) or {}
    inputs = (meta.get("signature") or {}).get("inputs")
    if not inputs:
        raise UserError(
            f"{where}: the MLflow model has no input signature, and Conveyor checks every "
            "request against one; log it with signature=mlflow.models.infer_signature(X, "
            "model.predict(X))"
        )
    features = []
    for spec in json.loads(inputs):
        name, kind = spec.get("name"), _KINDS.get(str(spec.get("type")))
        if not isinstance(name, str) or kind is None:
            raise UserError(
                f"{where}: signature input {spec} is not a named column of a tabular type "
                f"({', '.join(_KINDS)}); tensor signatures are not served"
            )
        features.append(Column(name=name, kind=kind, nullable=True))
    schema = Schema(features=features, target="prediction", target_kind=Kind.NUMERIC)
    if identity is None:
        identity = ModelIdentity(name=path.name, version="local", stage="local")
    return Bundle(
        path=path,
        schema=schema,
        onnx_path=None,
        onnx_inputs=[],
        identity=identity,
        note=MLFLOW_NOTE,
    )


def identity_text(path: Path, identity: ModelIdentity | None) -> str:
    if identity is None:
        return str(path)
    return f"model {identity.name!r} version {identity.version}"
