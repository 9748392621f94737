"""The "Traffic and latency" row: requests by route and status, inference latency
quantiles, error rates, micro-batch size and predicted classes."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import INFERENCE_ROUTES, AlertThresholds
from conveyor.deploy.dashboard.panel import MODEL, RATE, SEL, panel, quantile


def traffic_panels(t: AlertThresholds) -> list[dict[str, Any]]:
    """The row's panels; the p99 and 5xx alert levels are drawn as thresholds."""
    inference = f'{MODEL}, route=~"{INFERENCE_ROUTES}"'
    requests = f"sum(rate(conveyor_requests_total{{{SEL}}}[{RATE}]))"
    return [
        panel(
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
        panel(
            "timeseries",
            "Inference latency p50 / p95 / p99",
            "Request time of /predict and V2 infer; the dashed line is the p99 alert level.",
            [
                (quantile(q, "conveyor_request_duration_seconds_bucket", inference), f"p{p}")
                for q, p in ((0.5, 50), (0.95, 95), (0.99, 99))
            ],
            unit="s",
            steps=[("green", None), ("red", t.latency_p99_seconds)],
        ),
        panel(
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
        panel(
            "timeseries",
            "Rows per model call",
            "Micro-batch size: rows merged into one model call.",
            [
                (quantile(0.5, "conveyor_batch_rows_bucket", MODEL), "p50"),
                (quantile(0.99, "conveyor_batch_rows_bucket", MODEL), "p99"),
                (
                    f"sum(rate(conveyor_batch_rows_sum{{{MODEL}}}[{RATE}])) / "
                    f"sum(rate(conveyor_batch_rows_count{{{MODEL}}}[{RATE}]))",
                    "mean",
                ),
            ],
            size=(8, 8),
        ),
        panel(
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
