"""`conveyor gate`: the project's quality bar applied to any registered version on given data —
a version trained elsewhere (registered by plain MLflow, adopted or not) passes through the
same thresholds, slice thresholds and champion comparison as one `conveyor run` trains. The
report is recorded on the version (``conveyor.gates``, ``conveyor.gate_report``, an audit
event), so a version that failed it cannot roll out."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor import gates as G
from conveyor.errors import DataError, Problem
from conveyor.registry import tags as T

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from conveyor.bundle.model import Bundle
    from conveyor.bundle.runtime import Runtime
    from conveyor.registry.stages import ModelRegistry
    from conveyor.settings import Settings
    from conveyor.spec.models import ProjectSpec
    from conveyor.training.evaluation import Predictions

GATE_REPORT = "conveyor.gate_report"
_TAG_CHARS = 5000  # MLflow keeps tag values up to 8000 characters on every store


def gate_version(
    settings: Settings, spec: ProjectSpec, name: str, version: str, data: Path, target: str | None
) -> tuple[G.GateReport, dict[str, float]]:
    """The gates' report and the version's metrics on ``data`` (its ``target`` column, by
    default the project's)."""
    from conveyor.bundle.sources import registered_bundle
    from conveyor.data.loading import load_dataset
    from conveyor.spec.models import Task

    bundle = registered_bundle(settings, name, version)
    frame = load_dataset(str(data), Path.cwd())
    target = target or spec.data.target
    missing = [c for c in [*bundle.schema.names, target] if c not in frame.columns]
    if missing:
        raise DataError(str(data), [Problem(c, "column missing from the data") for c in missing])
    return gate_bundle(settings, spec, bundle, frame, target, spec.task is Task.CLASSIFICATION)


def gate_bundle(
    settings: Settings,
    spec: ProjectSpec,
    bundle: Bundle,
    frame: pd.DataFrame,
    target: str,
    classification: bool,
    runtime: Runtime | None = None,
) -> tuple[G.GateReport, dict[str, float]]:
    """``gates.min`` / ``gates.max``, each ``gates.slices`` slice of the rows, then the champion
    comparison with the production version on the same rows. ``runtime``: the one the version
    will be served by, when it is not yet what its files say (`conveyor adopt`)."""
    from conveyor.bundle.sources import RegistrySource, registered_bundle
    from conveyor.training.evaluation import compute_metrics

    labels = frame[target].to_numpy()
    preds = predict_bundle(bundle, frame, runtime)
    metrics = compute_metrics(labels, preds, classification)
    report = G.GateReport()
    for result in G.threshold_gates(metrics, spec.gates.min, spec.gates.max):
        report.add(result)
    results, _ = slice_gates(spec, frame, labels, preds, classification)
    for result in results:
        report.add(result)
    try:
        champion = RegistrySource(settings, bundle.identity.name, "production").current()
    except Exception:  # no production version: nothing to compare with
        champion = None
    if champion is None or champion.version == bundle.identity.version:
        report.add(G.skipped("champion", "no other production version to compare with"))
    elif not spec.gates.champion.enabled:
        report.add(G.skipped("champion", "disabled in gates.champion.enabled"))
    else:
        metric = spec.gates.champion.metric or spec.primary_metric()
        theirs_bundle = registered_bundle(settings, bundle.identity.name, champion.version)
        theirs = compute_metrics(labels, predict_bundle(theirs_bundle, frame), classification)
        if metric in metrics and metric in theirs:
            report.add(
                G.champion_gate(
                    metric, metrics[metric], theirs[metric], spec.gates.champion.tolerance,
                    champion.version,
                )
            )  # fmt: skip
        else:
            report.add(G.skipped("champion", f"{metric} is undefined on this data"))
    return report, metrics


def slice_gates(
    spec: ProjectSpec,
    frame: pd.DataFrame,
    labels: np.ndarray,
    preds: Predictions,
    classification: bool,
) -> tuple[list[G.GateResult], dict[str, dict[str, float]]]:
    """The metrics of each ``data.slices`` slice of ``frame`` and the ``gates.slices``
    thresholds on them; a gated slice no row falls in fails."""
    from conveyor.training.evaluation import Predictions, compute_metrics, slice_masks

    results: list[G.GateResult] = []
    slice_metrics: dict[str, dict[str, float]] = {}
    for name, mask in slice_masks(frame, spec.data.slices).items():
        rows = int(mask.sum())
        gated = name in spec.gates.slices
        if rows == 0:
            slice_metrics[name] = {}
            if gated:
                results.append(G.failed(f"slice {name}", "no rows fall in this slice"))
            continue
        keep = mask.to_numpy()
        sub = Predictions(
            preds.labels[keep],
            preds.probabilities[keep] if preds.probabilities is not None else None,
            preds.classes,
        )
        slice_metrics[name] = compute_metrics(labels[keep], sub, classification) | {
            "rows": float(rows)
        }
        if gated:
            results += G.threshold_gates(
                slice_metrics[name], spec.gates.slices[name], {}, f"slice {name}: "
            )
    return results, slice_metrics


def record_gates(
    registry: ModelRegistry,
    name: str,
    version: str,
    report: G.GateReport,
    actor: str,
    data: str,
    conn: Any = None,
) -> None:
    """The report on the version (summary and details as tags) and in the audit trail: a
    version whose gates failed is refused by `conveyor rollout start`."""
    from conveyor.registry.client import mlflow_errors
    from conveyor.store.audit import AuditEvent

    details = json.dumps(report.to_dict(), separators=(",", ":"))
    info = registry.get(name, version)
    held = nullcontext(conn) if conn is not None else registry.store.locked(f"model:{name}")
    with held as connection:
        with mlflow_errors():
            registry.client.set_model_version_tag(name, version, T.GATES, report.summary())
            registry.client.set_model_version_tag(name, version, GATE_REPORT, details[:_TAG_CHARS])
        registry.audit.record(
            AuditEvent(
                name, version, "gate", actor, info.stage, info.stage,
                f"{report.summary()} on {data}", details=report.to_dict(),
            ),
            connection,
        )  # fmt: skip


def predict_bundle(
    bundle: Bundle, frame: pd.DataFrame, runtime: Runtime | None = None
) -> Predictions:
    """A registered version's answers on ``frame``, through the runtime that serves it."""
    from conveyor.bundle.runtime import open_runtime
    from conveyor.training.evaluation import Predictions
    from conveyor.training.features import prepare_features

    x = prepare_features(frame, bundle.schema)
    runtime = runtime or open_runtime(bundle)
    output = runtime.predict({n: x[n].to_numpy() for n in bundle.schema.names}, len(x))
    return Predictions(output.predictions, output.probabilities, list(bundle.schema.classes))
