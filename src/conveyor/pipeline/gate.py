"""`conveyor gate`: the project's quality bar applied to any registered version on given data —
a version trained elsewhere (registered by plain MLflow, adopted or not) passes through the
same thresholds and champion comparison as one `conveyor run` trains."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor import gates as G
from conveyor.errors import DataError, Problem

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.serving.bundle import Bundle
    from conveyor.settings import Settings
    from conveyor.spec.models import ProjectSpec


def gate_version(
    settings: Settings, spec: ProjectSpec, name: str, version: str, data: Path, target: str | None
) -> tuple[G.GateReport, dict[str, float]]:
    """The gates' report and the version's metrics on ``data`` (its ``target`` column, by
    default the project's): ``gates.min`` / ``gates.max``, then the champion comparison with
    the production version on the same rows."""
    from conveyor.data.loading import load_dataset
    from conveyor.monitoring.assess import registered_bundle
    from conveyor.serving.sources import RegistrySource
    from conveyor.spec.models import Task

    bundle = registered_bundle(settings, name, version)
    frame = load_dataset(str(data), Path.cwd())
    target = target or spec.data.target
    missing = [c for c in [*bundle.schema.names, target] if c not in frame.columns]
    if missing:
        raise DataError(str(data), [Problem(c, "column missing from the data") for c in missing])
    classification = spec.task is Task.CLASSIFICATION
    metrics = _metrics(bundle, frame, target, classification)
    report = G.GateReport()
    for result in G.threshold_gates(metrics, spec.gates.min, spec.gates.max):
        report.add(result)
    production = RegistrySource(settings, name, "production")
    try:
        champion = production.current()
    except Exception:  # no production version: nothing to compare with
        champion = None
    if champion is None or champion.version == bundle.identity.version:
        report.add(G.skipped("champion", "no other production version to compare with"))
    elif not spec.gates.champion.enabled:
        report.add(G.skipped("champion", "disabled in gates.champion.enabled"))
    else:
        metric = spec.gates.champion.metric or spec.primary_metric()
        theirs = _metrics(registered_bundle(settings, name, champion.version), frame, target,
                          classification)  # fmt: skip
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


def _metrics(
    bundle: Bundle, frame: pd.DataFrame, target: str, classification: bool
) -> dict[str, Any]:
    from conveyor.serving.runtime import open_runtime
    from conveyor.training.evaluation import Predictions, compute_metrics
    from conveyor.training.features import prepare_features

    x = prepare_features(frame, bundle.schema)
    output = open_runtime(bundle).predict({n: x[n].to_numpy() for n in bundle.schema.names}, len(x))
    preds = Predictions(output.predictions, output.probabilities, list(bundle.schema.classes))
    return compute_metrics(frame[target].to_numpy(), preds, classification)
