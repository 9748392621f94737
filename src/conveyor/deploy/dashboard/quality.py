"""The "Model quality on labelled traffic" row: online accuracy or RMSE against the training
baseline with its alert level, and the label coverage they are judged on."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import AlertThresholds, num
from conveyor.deploy.dashboard.panel import SEL, Target, panel


def quality_panels(t: AlertThresholds) -> list[dict[str, Any]]:
    """The row's panels; each metric is drawn beside its baseline and its alert level."""

    def online_vs_baseline(metric: str, alert_expr: str) -> list[Target]:
        online = f'max by (version) (conveyor_online_metric{{{SEL}, metric="{metric}"}})'
        baseline = f'max by (version) (conveyor_baseline_metric{{{SEL}, metric="{metric}"}})'
        return [
            (online, "online {{version}}"),
            (baseline, "baseline {{version}}"),
            (alert_expr.format(baseline=baseline), "alert level {{version}}"),
        ]

    coverage = f"judged when at least {t.min_label_coverage:.0%} of rows have a label"
    return [
        panel(
            "timeseries",
            "Online accuracy vs training baseline",
            f"Accuracy on labelled traffic; alerts more than {num(t.accuracy_drop)} under "
            f"the holdout's, {coverage}.",
            online_vs_baseline("accuracy", f"{{baseline}} - {num(t.accuracy_drop)}"),
            unit="percentunit",
            size=(8, 8),
        ),
        panel(
            "timeseries",
            "Online RMSE vs training baseline",
            f"Regression models: RMSE on labelled traffic; alerts more than "
            f"{t.accuracy_drop:.0%} above the holdout's, {coverage}.",
            online_vs_baseline("rmse", f"{{baseline}} * {num(1 + t.accuracy_drop)}"),
            size=(8, 8),
        ),
        panel(
            "timeseries",
            "Label coverage",
            "Share of the window's predictions with feedback; under the dashed line online "
            "metrics are not judged.",
            [(f"max by (version) (conveyor_label_coverage{{{SEL}}})", "version {{version}}")],
            unit="percentunit",
            size=(8, 8),
            steps=[("red", None), ("green", t.min_label_coverage)],  # lower is worse
            bounds=(0, 1),
        ),
    ]
