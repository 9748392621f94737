"""The "Drift" row: whether and which features drifted, the window's size, feature PSI
now and over time, corrected p-values and the prediction PSI."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import AlertThresholds, num
from conveyor.deploy.dashboard.panel import SEL, panel


def drift_panels(t: AlertThresholds) -> list[dict[str, Any]]:
    """The row's panels; the PSI alert level is drawn as a threshold."""
    psi_steps = [("green", None), ("red", t.psi_alert)]
    return [
        panel(
            "stat",
            "Drift detected",
            "Whether a feature of the monitored window drifted (significant and PSI at the "
            "alert level).",
            [(f"max(conveyor_drift_detected{{{SEL}}})", "")],
            size=(4, 8),
            steps=[("green", None), ("red", 1)],
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "no drift", "color": "green", "index": 0},
                        "1": {"text": "drift", "color": "red", "index": 1},
                    },
                }
            ],
        ),
        panel(
            "stat",
            "Drifted features",
            "How many features drifted in the monitored window.",
            [(f"sum(max by (feature) (conveyor_feature_drifted{{{SEL}}}))", "")],
            size=(4, 8),
            steps=[("green", None), ("red", 1)],
        ),
        panel(
            "stat",
            "Rows in the monitored window",
            f"Drift and prediction PSI are judged from {t.min_window_rows} rows.",
            [(f"max by (version) (conveyor_monitor_window_rows{{{SEL}}})", "{{version}}")],
            size=(4, 8),
            steps=[("orange", None), ("green", t.min_window_rows)],
        ),
        panel(
            "bargauge",
            "Feature drift score (PSI) now",
            "Population stability index of each feature's window against the training data.",
            [
                (
                    f"sort_desc(max by (feature) (conveyor_feature_drift_score{{{SEL}}}))",
                    "{{feature}}",
                )
            ],
            size=(12, 8),
            steps=psi_steps,
            bounds=(0, None),
        ),
        panel(
            "timeseries",
            "Feature drift score (PSI) over time",
            "The dashed line is the PSI alert level.",
            [(f"max by (feature) (conveyor_feature_drift_score{{{SEL}}})", "{{feature}}")],
            steps=psi_steps,
            bounds=(0, None),
        ),
        panel(
            "timeseries",
            "Feature drift p-values (corrected)",
            "KS or chi-square p-value after the multiple-testing correction; low is a "
            "significant change (log scale).",
            [(f"max by (feature) (conveyor_feature_drift_p_value{{{SEL}}})", "{{feature}}")],
            custom={"scaleDistribution": {"type": "log", "log": 10}},
            bounds=(None, 1),
        ),
        panel(
            "timeseries",
            "Prediction PSI",
            f"PSI of the predictions against the training holdout; alerts above "
            f"{num(t.psi_alert)} on windows of {t.min_window_rows} rows or more.",
            [(f"max by (version) (conveyor_prediction_psi{{{SEL}}})", "version {{version}}")],
            size=(24, 8),
            steps=psi_steps,
            bounds=(0, None),
        ),
    ]
