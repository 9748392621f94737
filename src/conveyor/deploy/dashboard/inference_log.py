"""The "Inference log" row: queue depth, records written and dropped, spooled segments."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import AlertThresholds
from conveyor.deploy.dashboard.panel import ON_SELECTED, RATE, panel


def inference_log_panels(t: AlertThresholds) -> list[dict[str, Any]]:
    """The row's panels; the spool's backlog alert level is drawn as a threshold."""
    return [
        panel(
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
        panel(
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
        panel(
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
