"""The rollout rows: traffic weights, step and replicas of a rollout ("Rollout"), and its arms
compared on the same axes ("Rollout arms side by side")."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import INFERENCE_ROUTES
from conveyor.deploy.dashboard.panel import MODEL, RATE, SEL, panel


def rollout_panels() -> list[dict[str, Any]]:
    """Where a rollout stands: its weights, its step and the versions loaded."""
    return [
        panel(
            "timeseries",
            "Rollout traffic weights",
            "Share of traffic each arm of a rollout receives.",
            [
                (
                    f"max by (version, arm) (conveyor_rollout_weight{{{MODEL}}})",
                    "{{arm}} (version {{version}})",
                )
            ],
            custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40},
            bounds=(0, None),
        ),
        panel(
            "timeseries",
            "Rollout step",
            "Which step of its rollout plan each model is at.",
            [(f"max by (model) (conveyor_rollout_step{{{MODEL}}})", "{{model}}")],
            size=(6, 8),
            custom={"lineInterpolation": "stepAfter"},
        ),
        panel(
            "stat",
            "Replicas by version",
            "Server processes reporting each loaded version.",
            [
                (
                    f"count by (version, stage) (conveyor_model_info{{{SEL}}})",
                    "{{version}} ({{stage}})",
                )
            ],
            size=(6, 8),
            steps=[("blue", None)],
        ),
    ]


# the arm (production / candidate) of each version in a running rollout, as a 1-valued series
ARM = f"group by (model, version, arm) (conveyor_rollout_weight{{{MODEL}}})"


def _by_arm(expr: str, by: str = "arm") -> str:
    return f"sum by ({by}) ({expr} * on (model, version) group_left (arm) {ARM})"


def arm_panels() -> list[dict[str, Any]]:
    """The arms of a running rollout compared on the same axes: its canary, blue-green, shadow
    or A/B evidence as the analysis sees it (the latency comparison is its p99 check)."""
    inference = f'{MODEL}, route=~"{INFERENCE_ROUTES}"'
    calls = f"rate(conveyor_requests_total{{{inference}}}[{RATE}])"
    failed = f'rate(conveyor_requests_total{{{inference}, status=~"5.."}}[{RATE}])'
    predicted = f"rate(conveyor_predictions_total{{{MODEL}}}[{RATE}])"
    return [
        panel(
            "timeseries",
            "Requests per second by arm",
            "Inference calls each arm answers (shadow copies included) during a rollout.",
            [(_by_arm(calls), "{{arm}}")],
            unit="reqps",
            size=(8, 8),
        ),
        panel(
            "timeseries",
            "Server errors by arm",
            "Share of each arm's inference calls answered 5xx.",
            [(f"{_by_arm(failed)} / {_by_arm(calls)}", "{{arm}}")],
            unit="percentunit",
            size=(8, 8),
            bounds=(0, None),
        ),
        panel(
            "timeseries",
            "Predicted classes by arm",
            "Share of each arm's predicted rows per class: a candidate that predicts "
            "differently shows here before labels arrive.",
            [
                (
                    f"{_by_arm(predicted, 'arm, class')} / ignoring (class) group_left "
                    f"{_by_arm(predicted)}",
                    "{{arm}} {{class}}",
                )
            ],
            unit="percentunit",
            size=(8, 8),
            bounds=(0, 1),
        ),
        panel(
            "bargauge",
            "Latest verdict of each rollout check",
            "What the analysis of the current step found per check (error rate, p99 latency, "
            "agreement, prediction PSI, online accuracy, input drift): 1 for the verdict shown.",
            [
                (
                    f"max by (check, verdict) (conveyor_rollout_check{{{MODEL}}})",
                    "{{check}}: {{verdict}}",
                )
            ],
            size=(24, 8),
            steps=[("blue", None)],
        ),
    ]
