"""The dashboard model: its rows in order, the ``model`` / ``version`` variables, the layout on
Grafana's grid, and writing ``conveyor.json``.

``deploy/grafana/dashboards/conveyor.json`` is this output for the default ``AlertThresholds``
(a test keeps it equal), written again by
``python -m conveyor.deploy.dashboard --out deploy/grafana/dashboards`` (``main``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conveyor.deploy.alert_thresholds import AlertThresholds
from conveyor.deploy.dashboard.drift import drift_panels
from conveyor.deploy.dashboard.inference_log import inference_log_panels
from conveyor.deploy.dashboard.panel import DATASOURCE
from conveyor.deploy.dashboard.quality import quality_panels
from conveyor.deploy.dashboard.resources import resource_panels
from conveyor.deploy.dashboard.rollout import arm_panels, rollout_panels
from conveyor.deploy.dashboard.traffic import traffic_panels

DASHBOARD_FILE = "conveyor.json"
DASHBOARD_UID = "conveyor"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11; newer Grafana migrates older models on load
GRID_WIDTH = 24


def dashboard(thresholds: AlertThresholds | None = None) -> dict[str, Any]:
    """A Grafana dashboard model (schemaVersion ``SCHEMA_VERSION``) for the given thresholds."""
    t = thresholds or AlertThresholds()
    sections = [
        ("Traffic and latency", traffic_panels(t)),
        ("Drift", drift_panels(t)),
        ("Model quality on labelled traffic", quality_panels(t)),
        ("Rollout", rollout_panels()),
        ("Rollout arms side by side", arm_panels()),
        ("Resources", resource_panels()),
        ("Inference log", inference_log_panels(t)),
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conveyor.deploy.dashboard --out DIR``: write the dashboard for the
    default thresholds."""
    parser = argparse.ArgumentParser(
        prog="python -m conveyor.deploy.dashboard", description=main.__doc__
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory to write into.")
    args = parser.parse_args(argv)
    print(write_dashboard(args.out))
    return 0
