"""Holdout evaluation, ONNX export with parity, and every gate, into one ``Evaluation``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conveyor import gates as G
from conveyor.bundle.sources import registered_bundle, registered_schema
from conveyor.data.profile import build_profile
from conveyor.pipeline.dataset import PreparedData
from conveyor.pipeline.gate import predict_bundle, slice_gates
from conveyor.registry import tags as T
from conveyor.registry.stages import ModelRegistry
from conveyor.settings import Settings
from conveyor.spec.models import ProjectSpec, Task
from conveyor.training.evaluation import (
    Predictions,
    compute_metrics,
    predict,
    save_plot,
)
from conveyor.training.onnx_export import (
    OnnxExport,
    Parity,
    check_parity,
    export_onnx,
    parity_advice,
)


@dataclass
class Candidate:
    model: Any
    params: dict[str, Any]
    params_hash: str


@dataclass
class Evaluation:
    metrics: dict[str, float]
    slice_metrics: dict[str, dict[str, float]]
    predictions: Predictions
    report: G.GateReport
    onnx: OnnxExport
    parity: Parity | None
    profile: dict[str, Any]
    plot: Path
    workdir: Path
    champion_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self) -> str:
        return "onnx" if self.onnx.model is not None else "pyfunc"

    @property
    def onnx_reason(self) -> str:
        return self.onnx.reason


def evaluate_candidate(
    spec: ProjectSpec,
    data: PreparedData,
    candidate: Candidate,
    registry: ModelRegistry,
    timings: dict[str, float],
    workdir: Path,
    settings: Settings,
) -> Evaluation:
    import mlflow

    classification = spec.task is Task.CLASSIFICATION
    preds = predict(candidate.model, data.x_test, classification)
    metrics = compute_metrics(data.y_test, preds, classification)
    plot = save_plot(
        workdir / ("confusion_matrix.png" if classification else "residuals.png"),
        data.y_test,
        preds,
        classification,
    )
    mlflow.log_artifact(str(plot), "conveyor")
    report = G.GateReport()
    for result in G.threshold_gates(metrics, spec.gates.min, spec.gates.max):
        report.add(result)

    results, slice_metrics = slice_gates(
        spec, data.raw_test, data.y_test.to_numpy(), preds, classification
    )
    for name, values in slice_metrics.items():
        mlflow.log_metrics({f"slice.{name}.{k}": v for k, v in values.items()})
    for result in results:
        report.add(result)

    start = time.perf_counter()
    onnx = export_onnx(candidate.model, data.schema, classification)
    parity = None
    if onnx.model is None:
        report.add(
            G.skipped(
                "onnx parity", f"no ONNX export ({onnx.reason}); served through MLflow pyfunc"
            )
        )
    else:
        tol = (
            spec.gates.onnx_parity.probability_tolerance
            if classification
            else spec.gates.onnx_parity.regression_tolerance
        )
        parity = check_parity(onnx, data.x_test, data.schema, preds, classification, tol)
        detail = (
            f"{parity.rows} rows: {parity.label_mismatches} label mismatches, "
            f"max diff {parity.max_abs_diff:.2e} (tolerance {tol:g})"
        )
        if not parity.passed:
            detail += parity_advice(parity, classification, spec.model.estimator or "the model")
        if not parity.passed and spec.gates.onnx_parity.on_mismatch == "pyfunc":
            report.add(G.skipped("onnx parity", f"{detail}; served through MLflow pyfunc"))
            onnx = OnnxExport(None, reason=f"parity failed: {detail}")
        else:
            report.add(
                G.GateResult(
                    "onnx parity",
                    G.Outcome.PASSED if parity.passed else G.Outcome.FAILED,
                    detail,
                    parity.max_abs_diff,
                    tol,
                )
            )
    timings["onnx"] = time.perf_counter() - start

    champion_version = _champion_gates(spec, data, metrics, report, registry, settings)
    profile = build_profile(
        data.frame.loc[data.x_train.index], data.schema, preds.labels, classification
    )
    return Evaluation(
        metrics,
        slice_metrics,
        preds,
        report,
        onnx,
        parity,
        profile,
        plot,
        workdir,
        champion_version,
    )


def _champion_gates(
    spec: ProjectSpec,
    data: PreparedData,
    metrics: dict[str, float],
    report: G.GateReport,
    registry: ModelRegistry,
    settings: Settings,
) -> str | None:
    """Schema compatibility with production, then the champion comparison on the same holdout."""
    # an unreachable registry raises here: the gates never skip for want of an answer
    production = registry.by_alias(spec.name, T.PRODUCTION)
    if production is None:
        report.add(G.skipped("schema compatibility", "no production version yet"))
        report.add(G.skipped("champion", "no production version yet"))
        return None
    prod_schema = registered_schema(registry.client, spec.name, production.version)
    problems = prod_schema.incompatibilities(data.schema) if prod_schema else []
    if problems and not spec.gates.allow_breaking_schema:
        report.add(
            G.failed(
                "schema compatibility",
                f"breaks production v{production.version}: " + "; ".join(problems),
            )
        )
    elif problems:
        report.add(
            G.passed(
                "schema compatibility",
                "breaking change allowed by gates.allow_breaking_schema: " + "; ".join(problems),
            )
        )
    else:
        report.add(
            G.passed("schema compatibility", f"compatible with production v{production.version}")
        )
    if not spec.gates.champion.enabled:
        report.add(G.skipped("champion", "disabled in gates.champion.enabled"))
        return production.version
    if problems:
        report.add(G.skipped("champion", "production cannot score this data: the schema changed"))
        return production.version
    metric = spec.gates.champion.metric or spec.primary_metric()
    # production as it is served (its graph, or its pyfunc for any flavor), on the same rows
    bundle = registered_bundle(settings, spec.name, production.version)
    classification = spec.task is Task.CLASSIFICATION
    champ_metrics = compute_metrics(
        data.y_test.to_numpy(), predict_bundle(bundle, data.raw_test), classification
    )
    if metric not in metrics or metric not in champ_metrics:
        report.add(G.skipped("champion", f"{metric} is undefined on this holdout"))
    else:
        report.add(
            G.champion_gate(
                metric,
                metrics[metric],
                champ_metrics[metric],
                spec.gates.champion.tolerance,
                production.version,
            )
        )
    return production.version
