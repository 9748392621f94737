"""Rules on the model's quality: input and prediction drift, online accuracy or RMSE against
the training baseline and an optional accuracy floor.

Model-level gauges (drift, online metrics) are the same on every replica, so these rules take
``max by (model, version)`` of them: one alert per model version, not one per pod.
"""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import AlertThresholds, num
from conveyor.deploy.prometheus_rules.rule import pct, rule

_MODEL_VERSION = "{{ $labels.model }} version {{ $labels.version }}"
# Lists the drifted features, highest PSI first ("age (PSI 0.41), city (PSI 0.35)"), asked
# of Prometheus when the alert is rendered.
_DRIFTED_FEATURES = (
    '{{ range $i, $f := query (printf "sort_desc(max by (feature) (conveyor_feature_drift_score'
    "{model=%[1]q,version=%[2]q}) and on (feature) (max by (feature) (conveyor_feature_drifted"
    '{model=%[1]q,version=%[2]q}) == 1))" $labels.model $labels.version) }}{{ if $i }}, {{ end }}'
    '{{ $f.Labels.feature }} (PSI {{ printf "%.2f" $f.Value }}){{ end }}'
)


def _online(metric: str) -> str:
    return f'max by (model, version) (conveyor_online_metric{{metric="{metric}"}})'


def _baseline(metric: str) -> str:
    return f'max by (model, version) (conveyor_baseline_metric{{metric="{metric}"}})'


_ROLLBACK = (
    "conveyor rollback {{ $labels.model }} --reason '...' puts the previous production "
    "version back; then retrain on recent data."
)


def quality_rules(t: AlertThresholds) -> list[dict[str, Any]]:
    """The ``conveyor-model-quality`` group's rules."""
    coverage = f"max by (model, version) (conveyor_label_coverage) >= {num(t.min_label_coverage)}"
    rules = [
        rule(
            "ConveyorDataDrift",
            "max by (model, version) (conveyor_drift_detected) == 1",
            t.drift_for,
            "warning",
            f"Input data drift on {_MODEL_VERSION}",
            "The drift monitor finds features whose distribution moved away from the training "
            "data (corrected p-value under alpha and PSI at its alert level). Drifted: "
            + _DRIFTED_FEATURES
            + ".",
            "Compare recent rows with the training data: conveyor drift --reference "
            "<profile.json from the version's model artifacts> --current <recent rows as CSV "
            "or Parquet>. Check the upstream data pipeline; if the world changed, retrain "
            "with conveyor run.",
        ),
        rule(
            "ConveyorPredictionDrift",
            f"(max by (model, version) (conveyor_prediction_psi) > {num(t.psi_alert)})\n"
            "and on (model, version)\n"
            f"(max by (model, version) (conveyor_monitor_window_rows) >= {t.min_window_rows})",
            t.drift_for,
            "warning",
            f"Prediction drift on {_MODEL_VERSION}",
            'The PSI of the predictions against the training holdout is {{ printf "%.2f" '
            f"$value }}}} (alert at {num(t.psi_alert)}, windows of at least "
            f"{t.min_window_rows} rows).",
            "Look at the data-drift and traffic panels: a changed client mix shifts "
            "predictions. If online accuracy falls too, roll back or retrain.",
        ),
        rule(
            "ConveyorAccuracyBelowBaseline",
            f"(\n  {_baseline('accuracy')}\n  - on (model, version)\n  {_online('accuracy')}\n"
            f") > {num(t.accuracy_drop)}\n"
            f"and on (model, version)\n({coverage})",
            t.accuracy_for,
            "critical",
            f"Online accuracy below the training baseline on {_MODEL_VERSION}",
            'Accuracy on labelled traffic is {{ printf "%.3f" $value }} below the holdout '
            f"accuracy (alert above {num(t.accuracy_drop)}; judged only when at least "
            f"{pct(t.min_label_coverage)} of rows have a label).",
            "Check that the labelled rows are representative (label coverage panel). " + _ROLLBACK,
        ),
        rule(
            "ConveyorRmseAboveBaseline",
            f"(\n  {_online('rmse')}\n  / on (model, version)\n  {_baseline('rmse')}\n"
            f"  - 1\n) > {num(t.accuracy_drop)}\n"
            f"and on (model, version)\n({coverage})",
            t.accuracy_for,
            "critical",
            f"Online RMSE above the training baseline on {_MODEL_VERSION}",
            "RMSE on labelled traffic is {{ humanizePercentage $value }} above the holdout "
            f"RMSE (alert above {pct(t.accuracy_drop)}; judged only when at least "
            f"{pct(t.min_label_coverage)} of rows have a label).",
            "Check that the labelled rows are representative (label coverage panel). " + _ROLLBACK,
        ),
    ]
    if t.min_accuracy is not None:
        rules.append(
            rule(
                "ConveyorAccuracyBelowFloor",
                f"{_online('accuracy')} < {num(t.min_accuracy)}\nand on (model, version)\n"
                f"({coverage})",
                t.accuracy_for,
                "critical",
                f"Online accuracy below {num(t.min_accuracy)} on {_MODEL_VERSION}",
                'Accuracy on labelled traffic is {{ printf "%.3f" $value }}, below the floor of '
                f"{num(t.min_accuracy)} (judged only when at least "
                f"{pct(t.min_label_coverage)} of rows have a label).",
                "Check that the labelled rows are representative (label coverage panel). "
                + _ROLLBACK,
            )
        )
    return rules
