"""The Grafana dashboard for Conveyor's metrics, built from the same thresholds as the alerts.

``dashboard(thresholds)`` is a Grafana dashboard model (what *Import dashboard* takes and file
provisioning loads): a Prometheus data-source variable, ``model`` and ``version`` variables
from ``conveyor_model_info``, and rows of panels for traffic and latency, drift, online
quality, rollouts, resources and the inference log, one module per row (``panel`` builds a
panel). Alert levels are drawn as threshold lines, so a panel shows how far a signal is from
paging. ``model`` assembles and writes the file; this package re-exports that public surface.
"""

from __future__ import annotations

from conveyor.deploy.dashboard.model import (
    DASHBOARD_FILE,
    DASHBOARD_UID,
    GRID_WIDTH,
    SCHEMA_VERSION,
    dashboard,
    dashboard_text,
    main,
    panel_queries,
    write_dashboard,
)

__all__ = [
    "DASHBOARD_FILE",
    "DASHBOARD_UID",
    "GRID_WIDTH",
    "SCHEMA_VERSION",
    "dashboard",
    "dashboard_text",
    "main",
    "panel_queries",
    "write_dashboard",
]
