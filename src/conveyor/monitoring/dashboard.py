"""The Grafana dashboard for Conveyor's metrics, built from the same thresholds as the alerts.

``dashboard(thresholds)`` is a Grafana dashboard model (what *Import dashboard* takes and
file provisioning loads): a Prometheus data-source variable, ``model`` and ``version``
variables from ``conveyor_model_info``, and rows of panels for traffic and latency, drift,
online quality, rollouts and the inference log. Alert levels are drawn as threshold lines,
so a panel shows how far a signal is from paging. ``deploy/grafana/dashboards/conveyor.json``
is this module's output for the default ``AlertThresholds`` (a test keeps it equal), written
again by ``python -m conveyor.monitoring.dashboard --out deploy/grafana/dashboards``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conveyor.monitoring.rules import INFERENCE_ROUTES, AlertThresholds

DASHBOARD_FILE = "conveyor.json"
DASHBOARD_UID = "conveyor"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11; newer Grafana migrates older models on load
GRID_WIDTH = 24

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'model=~"$model", version=~"$version"'  # metrics labelled by model and version
MODEL = 'model=~"$model"'  # latency, batch size and rollout metrics have no version label
RATE = "$__rate_interval"
# Inference-log metrics are per process, without a model label: keep the instances that
# serve a selected model.
ON_SELECTED = f"and on (instance) conveyor_model_info{{{SEL}}}"

Target = tuple[str, str]  # (PromQL, legend)
Steps = Sequence[tuple[str, float | None]]  # threshold steps: (colour, from value)


def dashboard(thresholds: AlertThresholds | None = None) -> dict[str, Any]:
    """A Grafana dashboard model (schemaVersion ``SCHEMA_VERSION``) for the given thresholds."""
    t = thresholds or AlertThresholds()
    sections = [
        ("Traffic and latency", _traffic(t)),
        ("Drift", _drift(t)),
        ("Model quality on labelled traffic", _quality(t)),
        ("Rollout", _rollout()),
        ("Rollout arms side by side", _arms()),
        ("Resources", _resources()),
        ("Inference log", _inference_log(t)),
    ]
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": "Conveyor model servers: traffic, latency, drift, online quality, "
        "rollouts and the inference log.",
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": _layout(sections),
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["conveyor", "mlops"],
        "templating": {"list": _variables()},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": "Conveyor model serving",
        "uid": DASHBOARD_UID,
        "version": 1,
    }


def panel_queries(model: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (panel title, PromQL) of a dashboard model, rows' nested panels included."""
    found = []
    for panel in model["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found += [(inner["title"], target["expr"]) for target in inner.get("targets", [])]
    return found


def dashboard_text(thresholds: AlertThresholds | None = None) -> str:
    """The dashboard as the JSON file holds it."""
    return json.dumps(dashboard(thresholds), indent=2, ensure_ascii=False) + "\n"


def write_dashboard(out: Path, thresholds: AlertThresholds | None = None) -> Path:
    """Write ``conveyor.json`` into ``out``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / DASHBOARD_FILE
    path.write_text(dashboard_text(thresholds), encoding="utf-8")
    return path


def _variables() -> list[dict[str, Any]]:
    def label_values(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DATASOURCE,
            "definition": query,
            "query": query,
            "refresh": 2,  # on time range change: new versions appear
            "regex": "",
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {},
            "options": [],
            "hide": 0,
        }

    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "regex": "",
            "current": {},
            "options": [],
            "refresh": 1,
            "hide": 0,
        },
        label_values("model", "Model", "label_values(conveyor_model_info, model)"),
        label_values(
            "version", "Version", 'label_values(conveyor_model_info{model=~"$model"}, version)'
        ),
    ]


def _layout(sections: Sequence[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Rows of panels left to right, wrapping at the grid's width; ids in order."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, section in sections:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = row_height = 0
        for panel in section:
            w, h = panel.pop("_size")
            if x + w > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append(
                {"id": len(panels) + 1, **panel, "gridPos": {"h": h, "w": w, "x": x, "y": y}}
            )
            x, row_height = x + w, max(row_height, h)
        y += row_height
    return panels


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str = "short",
    size: tuple[int, int] = (12, 8),
    steps: Steps = (),
    custom: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    bounds: tuple[float | None, float | None] = (None, None),
) -> dict[str, Any]:
    instant = kind != "timeseries"
    defaults: dict[str, Any] = {
        "unit": unit,
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": c, "value": v} for c, v in (steps or [("green", None)])],
        },
        "mappings": mappings or [],
    }
    if kind == "timeseries":
        defaults["color"] = {"mode": "palette-classic"}
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "dashed" if steps else "off"},
            **(custom or {}),
        }
    else:
        defaults["color"] = {"mode": "thresholds"}
    low, high = bounds
    if low is not None:
        defaults["min"] = low
    if high is not None:
        defaults["max"] = high
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    options_by_kind: dict[str, dict[str, Any]] = {
        "timeseries": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "stat": {
            "reduceOptions": reduce,
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
        "bargauge": {
            "reduceOptions": reduce,
            "displayMode": "gradient",
            "orientation": "horizontal",
            "showUnfilled": True,
            "valueMode": "color",
            "minVizHeight": 16,
            "minVizWidth": 0,
        },
    }
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options_by_kind[kind],
        "targets": [
            {
                "datasource": DATASOURCE,
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "range": not instant,
                "instant": instant,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
        "_size": size,
    }


def _num(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _quantile(q: float, bucket: str, selector: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({bucket}{{{selector}}}[{RATE}])))"


def _traffic(t: AlertThresholds) -> list[dict[str, Any]]:
    inference = f'{MODEL}, route=~"{INFERENCE_ROUTES}"'
    requests = f"sum(rate(conveyor_requests_total{{{SEL}}}[{RATE}]))"
    return [
        _panel(
            "timeseries",
            "Requests per second by route and status",
            "Every answered request except health checks and scrapes.",
            [
                (
                    f"sum by (route, status) (rate(conveyor_requests_total{{{SEL}}}[{RATE}]))",
                    "{{route}} {{status}}",
                )
            ],
            unit="reqps",
        ),
        _panel(
            "timeseries",
            "Inference latency p50 / p95 / p99",
            "Request time of /predict and V2 infer; the dashed line is the p99 alert level.",
            [
                (_quantile(q, "conveyor_request_duration_seconds_bucket", inference), f"p{p}")
                for q, p in ((0.5, 50), (0.95, 95), (0.99, 99))
            ],
            unit="s",
            steps=[("green", None), ("red", t.latency_p99_seconds)],
        ),
        _panel(
            "timeseries",
            "Error rate",
            "Share of requests answered 5xx (alerting) and 4xx (bad input, the client's).",
            [
                (
                    f'sum(rate(conveyor_requests_total{{{SEL}, status=~"5.."}}[{RATE}])) / {requests}',
                    "5xx (server)",
                ),
                (
                    f'sum(rate(conveyor_requests_total{{{SEL}, status=~"4.."}}[{RATE}])) / {requests}',
                    "4xx (client)",
                ),
            ],
            unit="percentunit",
            size=(8, 8),
            steps=[("green", None), ("red", t.error_rate)],
            bounds=(0, None),
        ),
        _panel(
            "timeseries",
            "Rows per model call",
            "Micro-batch size: rows merged into one model call.",
            [
                (_quantile(0.5, "conveyor_batch_rows_bucket", MODEL), "p50"),
                (_quantile(0.99, "conveyor_batch_rows_bucket", MODEL), "p99"),
                (
                    f"sum(rate(conveyor_batch_rows_sum{{{MODEL}}}[{RATE}])) / "
                    f"sum(rate(conveyor_batch_rows_count{{{MODEL}}}[{RATE}]))",
                    "mean",
                ),
            ],
            size=(8, 8),
        ),
        _panel(
            "timeseries",
            "Predicted rows per second by class",
            "Classifiers: a shift between classes shows here first. Regression: one series.",
            [
                (
                    f"sum by (class) (rate(conveyor_predictions_total{{{SEL}}}[{RATE}]))",
                    "{{class}}",
                )
            ],
            unit="cps",
            size=(8, 8),
        ),
    ]


def _drift(t: AlertThresholds) -> list[dict[str, Any]]:
    psi_steps = [("green", None), ("red", t.psi_alert)]
    return [
        _panel(
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
        _panel(
            "stat",
            "Drifted features",
            "How many features drifted in the monitored window.",
            [(f"sum(max by (feature) (conveyor_feature_drifted{{{SEL}}}))", "")],
            size=(4, 8),
            steps=[("green", None), ("red", 1)],
        ),
        _panel(
            "stat",
            "Rows in the monitored window",
            f"Drift and prediction PSI are judged from {t.min_window_rows} rows.",
            [(f"max by (version) (conveyor_monitor_window_rows{{{SEL}}})", "{{version}}")],
            size=(4, 8),
            steps=[("orange", None), ("green", t.min_window_rows)],
        ),
        _panel(
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
        _panel(
            "timeseries",
            "Feature drift score (PSI) over time",
            "The dashed line is the PSI alert level.",
            [(f"max by (feature) (conveyor_feature_drift_score{{{SEL}}})", "{{feature}}")],
            steps=psi_steps,
            bounds=(0, None),
        ),
        _panel(
            "timeseries",
            "Feature drift p-values (corrected)",
            "KS or chi-square p-value after the multiple-testing correction; low is a "
            "significant change (log scale).",
            [(f"max by (feature) (conveyor_feature_drift_p_value{{{SEL}}})", "{{feature}}")],
            custom={"scaleDistribution": {"type": "log", "log": 10}},
            bounds=(None, 1),
        ),
        _panel(
            "timeseries",
            "Prediction PSI",
            f"PSI of the predictions against the training holdout; alerts above "
            f"{_num(t.psi_alert)} on windows of {t.min_window_rows} rows or more.",
            [(f"max by (version) (conveyor_prediction_psi{{{SEL}}})", "version {{version}}")],
            size=(24, 8),
            steps=psi_steps,
            bounds=(0, None),
        ),
    ]


def _quality(t: AlertThresholds) -> list[dict[str, Any]]:
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
        _panel(
            "timeseries",
            "Online accuracy vs training baseline",
            f"Accuracy on labelled traffic; alerts more than {_num(t.accuracy_drop)} under "
            f"the holdout's, {coverage}.",
            online_vs_baseline("accuracy", f"{{baseline}} - {_num(t.accuracy_drop)}"),
            unit="percentunit",
            size=(8, 8),
        ),
        _panel(
            "timeseries",
            "Online RMSE vs training baseline",
            f"Regression models: RMSE on labelled traffic; alerts more than "
            f"{t.accuracy_drop:.0%} above the holdout's, {coverage}.",
            online_vs_baseline("rmse", f"{{baseline}} * {_num(1 + t.accuracy_drop)}"),
            size=(8, 8),
        ),
        _panel(
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


def _rollout() -> list[dict[str, Any]]:
    return [
        _panel(
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
        _panel(
            "timeseries",
            "Rollout step",
            "Which step of its rollout plan each model is at.",
            [(f"max by (model) (conveyor_rollout_step{{{MODEL}}})", "{{model}}")],
            size=(6, 8),
            custom={"lineInterpolation": "stepAfter"},
        ),
        _panel(
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


def _arms() -> list[dict[str, Any]]:
    """The arms of a running rollout compared on the same axes: its canary, blue-green, shadow
    or A/B evidence as the analysis sees it (the latency comparison is its p99 check)."""
    inference = f'{MODEL}, route=~"{INFERENCE_ROUTES}"'
    calls = f"rate(conveyor_requests_total{{{inference}}}[{RATE}])"
    failed = f'rate(conveyor_requests_total{{{inference}, status=~"5.."}}[{RATE}])'
    predicted = f"rate(conveyor_predictions_total{{{MODEL}}}[{RATE}])"
    return [
        _panel(
            "timeseries",
            "Requests per second by arm",
            "Inference calls each arm answers (shadow copies included) during a rollout.",
            [(_by_arm(calls), "{{arm}}")],
            unit="reqps",
            size=(8, 8),
        ),
        _panel(
            "timeseries",
            "Server errors by arm",
            "Share of each arm's inference calls answered 5xx.",
            [(f"{_by_arm(failed)} / {_by_arm(calls)}", "{{arm}}")],
            unit="percentunit",
            size=(8, 8),
            bounds=(0, None),
        ),
        _panel(
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
        _panel(
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


def _resources() -> list[dict[str, Any]]:
    """CPU and memory of the server processes, per pod and per loaded version (what the HPA
    scales on)."""
    version_of = f"group by (instance, version) (conveyor_model_info{{{SEL}}} == 1)"
    return [
        _panel(
            "timeseries",
            "CPU per server process",
            "CPU seconds per second of each server process (1 = one core).",
            [(f"rate(process_cpu_seconds_total[{RATE}]) {ON_SELECTED}", "{{instance}}")],
            size=(12, 8),
        ),
        _panel(
            "timeseries",
            "Memory per server process",
            "Resident memory of each server process; a rollout holds two versions loaded.",
            [(f"process_resident_memory_bytes {ON_SELECTED}", "{{instance}}")],
            unit="bytes",
            size=(12, 8),
        ),
        _panel(
            "timeseries",
            "CPU by version",
            "CPU of the processes serving each version, summed.",
            [
                (
                    f"sum by (version) (rate(process_cpu_seconds_total[{RATE}]) "
                    f"* on (instance) group_left (version) {version_of})",
                    "version {{version}}",
                )
            ],
            size=(12, 8),
        ),
        _panel(
            "timeseries",
            "Memory by version",
            "Resident memory of the processes serving each version, summed.",
            [
                (
                    f"sum by (version) (process_resident_memory_bytes "
                    f"* on (instance) group_left (version) {version_of})",
                    "version {{version}}",
                )
            ],
            unit="bytes",
            size=(12, 8),
        ),
    ]


def _inference_log(t: AlertThresholds) -> list[dict[str, Any]]:
    return [
        _panel(
            "timeseries",
            "Inference-log queue depth",
            "Records waiting in memory for the writer, per server.",
            [
                (
                    f"max by (instance) (conveyor_inference_log_queue_depth {ON_SELECTED})",
                    "{{instance}}",
                )
            ],
            size=(8, 8),
        ),
        _panel(
            "timeseries",
            "Inference-log records written and dropped",
            "Dropped records (buffer full) are traffic that drift and online metrics miss.",
            [
                (
                    f"sum(rate(conveyor_inference_log_written_total[{RATE}]) {ON_SELECTED})",
                    "written",
                ),
                (
                    f"sum(rate(conveyor_inference_log_dropped_total[{RATE}]) {ON_SELECTED})",
                    "dropped",
                ),
            ],
            unit="cps",
            size=(8, 8),
            custom={"fillOpacity": 0},
        ),
        _panel(
            "timeseries",
            "Spooled inference-log segments",
            "Segments on disk not yet in the store; the dashed line is the backlog alert "
            "level (when it keeps growing).",
            [
                (
                    f"max by (instance) (conveyor_inference_log_spool_segments {ON_SELECTED})",
                    "{{instance}}",
                )
            ],
            size=(8, 8),
            steps=[("green", None), ("orange", t.spool_backlog_segments)],
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conveyor.monitoring.dashboard --out DIR``: write the dashboard for the
    default thresholds."""
    parser = argparse.ArgumentParser(
        prog="python -m conveyor.monitoring.dashboard", description=main.__doc__
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory to write into.")
    args = parser.parse_args(argv)
    print(write_dashboard(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
