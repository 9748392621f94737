"""`conveyor adopt`: give a version that plain MLflow registered what Conveyor writes for its
own versions, computed from reference data instead of a training run, so drift, online
accuracy, alerts and rollouts work for it as for a Conveyor-trained version.

From the reference rows (the data the model was trained or validated on) and the model's own
predictions on them: the schema (the signature's columns, with the kinds, ranges and categories
the data shows, and the classes when the target is given), the reference profile (per-feature
bins and the predictions' distribution), and with ``--target`` the metrics on those rows (the
baseline online accuracy is compared with). They are written into the version's logged model
as ``extra_files/`` (schema.json, profile.json, monitoring.json, metrics.json,
gate_report.json), tagged, and audited; the model itself is not touched.

With ``--target`` and a project (``-p``, or ./conveyor.yaml), the project's gates (thresholds,
slices, champion) run on the reference rows and their report is recorded as for `conveyor
gate`; a failed gate is recorded too (the version may not roll out) and the command exits 3.
Without them the report says why no gate ran.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor import gates as G
from conveyor.errors import DataError, Problem, UserError
from conveyor.registry import tags as T
from conveyor.registry.client import mlflow_errors

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.bundle.runtime import PyfuncRuntime
    from conveyor.data.schema import Schema
    from conveyor.registry.stages import ModelRegistry
    from conveyor.settings import Settings
    from conveyor.spec.models import ProjectSpec
    from conveyor.training.onnx_export import OnnxExport

ADOPTED = "conveyor.adopted"


@dataclass(frozen=True)
class Adopted:
    name: str
    version: str
    rows: int
    features: int
    classification: bool
    metrics: dict[str, float]
    report: G.GateReport

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "report": self.report.to_dict()}


def adopt(
    registry: ModelRegistry,
    name: str,
    version: str,
    reference: Path,
    target: str | None,
    actor: str,
    task: str | None = None,
    settings: Settings | None = None,
    spec: ProjectSpec | None = None,
) -> Adopted:
    import mlflow

    from conveyor.bundle.model import BUNDLE_DIR, ModelIdentity, read_mlflow_model, write_bundle
    from conveyor.bundle.runtime import OnnxRuntime, PyfuncRuntime
    from conveyor.data.loading import load_dataset
    from conveyor.data.profile import build_profile
    from conveyor.data.schema import infer_schema
    from conveyor.pipeline.gate import gate_bundle, record_gates
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
        export, parity = _convert(runtime, schema, frame, classification, spec)
        gated = dataclasses.replace(bundle, schema=schema, note="")
        served = None
        if export is not None:
            served = OnnxRuntime(gated, 1, export.model, export.input_names)
        if target is None:
            report = G.GateReport([G.skipped("gates", "no --target: the gates need labelled rows")])
        elif spec is None or settings is None:
            report = G.GateReport(
                [G.skipped("gates", "no project: conveyor adopt -p PROJECT applies its gates")]
            )
        else:
            report, _ = gate_bundle(settings, spec, gated, frame, target, classification, served)
        report.add(parity)
        out = Path(tmp) / "extra"
        out.mkdir()
        write_bundle(
            out,
            schema=schema,
            profile=profile,
            monitoring=MonitoringSpec(),
            metrics={"holdout": metrics, "reference_rows": len(frame)},
            gate_report=report.to_dict(),
            onnx=export.model if export is not None else None,
            onnx_inputs=export.input_names if export is not None else None,
        )
        with registry.store.locked(f"model:{name}") as conn, mlflow_errors():
            registry.client.log_model_artifacts(model_id, str(out), artifact_path=BUNDLE_DIR)
            registry.client.set_model_version_tag(name, version, ADOPTED, str(reference.name))
            registry.client.set_model_version_tag(
                name, version, T.RUNTIME, "pyfunc" if export is None else "onnx"
            )
            for key, value in metrics.items():
                registry.client.set_model_version_tag(
                    name, version, T.METRIC_PREFIX + key, str(value)
                )
            record_gates(registry, name, version, report, actor, reference.name, conn)
            registry.audit.record(
                AuditEvent(
                    name, version, "adopt", actor, info.stage, info.stage,
                    f"reference {reference.name} ({len(frame)} rows)",
                    details={"target": target, "metrics": metrics, "gates": report.summary()},
                ),
                conn,
            )  # fmt: skip
    return Adopted(name, version, len(frame), len(names), classification, metrics, report)


def _convert(
    runtime: PyfuncRuntime,
    schema: Schema,
    frame: pd.DataFrame,
    classification: bool,
    spec: ProjectSpec | None,
) -> tuple[OnnxExport | None, G.GateResult]:
    """A scikit-learn estimator converted to ONNX and checked against the model on the
    reference rows: the graph when it matches (the version is then served by ONNX Runtime),
    and the "onnx parity" gate saying what happened."""
    from conveyor.bundle.convert import convert_estimator
    from conveyor.spec.models import ParityGate

    if not runtime.estimator:
        why = f"a {runtime.flavor} model has no ONNX conversion here; served through its pyfunc"
        return None, G.skipped("onnx parity", why)
    model = runtime.model
    classifier = classification and hasattr(model, "predict_proba")
    classes = [str(c) for c in getattr(model, "classes_", [])]
    if classifier and classes != [str(c) for c in schema.classes]:
        why = f"the model's classes {classes} are not the reference's {schema.classes}"
        return None, G.skipped("onnx parity", f"{why}; served through its pyfunc")
    gate = spec.gates.onnx_parity if spec is not None else ParityGate()
    tolerance = gate.probability_tolerance if classifier else gate.regression_tolerance
    export, parity = convert_estimator(model, schema, frame, classifier, gate)
    if export.model is None or parity is None:
        why = f"no ONNX graph ({export.reason}); served through its pyfunc"
        return None, G.skipped("onnx parity", why)
    detail = (
        f"{parity.rows} rows: {parity.label_mismatches} label mismatches, max diff "
        f"{parity.max_abs_diff:.2e} (tolerance {tolerance:g})"
    )
    return export, G.passed("onnx parity", detail)


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
