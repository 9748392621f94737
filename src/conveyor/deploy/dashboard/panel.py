"""One Grafana panel as the dashboard model holds it, and the PromQL pieces every row uses:
the data source, the ``model`` / ``version`` selectors and the rate interval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'model=~"$model", version=~"$version"'  # metrics labelled by model and version
MODEL = 'model=~"$model"'  # latency, batch size and rollout metrics have no version label
RATE = "$__rate_interval"
# Inference-log metrics are per process, without a model label: keep the instances that
# serve a selected model.
ON_SELECTED = f"and on (instance) conveyor_model_info{{{SEL}}}"

Target = tuple[str, str]  # (PromQL, legend)
Steps = Sequence[tuple[str, float | None]]  # threshold steps: (colour, from value)


def panel(
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
    """A panel of ``kind`` (timeseries, stat or bargauge) drawing ``targets``; ``size`` is
    (width, height) in grid units, placed when the rows are laid out; ``steps`` are drawn as
    threshold lines (timeseries) or colours (stat, bargauge)."""
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


def quantile(q: float, bucket: str, selector: str) -> str:
    """The ``q`` quantile of a histogram's ``bucket`` series matching ``selector``."""
    return f"histogram_quantile({q}, sum by (le) (rate({bucket}{{{selector}}}[{RATE}])))"
