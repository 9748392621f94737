"""One look at a served version over a window: drift, online performance, service health.

``assess`` reads the window's merged live buckets (drift counts, requests, errors, latency)
and joins the feedback that arrived for the window's predictions. The server runs it on a
schedule (gauges and alerts); ``conveyor monitor`` runs the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.monitoring.live import load_window
from conveyor.store.errors import store_errors
from conveyor.store.tables import feedback, inference_log

if TYPE_CHECKING:
    from conveyor.bundle.model import Bundle
    from conveyor.monitoring.drift import DriftConfig, DriftReport
    from conveyor.spec.models import DriftSpec
    from conveyor.store.engine import Store

# below this many requests in a window, health rules do not judge
MIN_REQUESTS = 20


@dataclass(frozen=True)
class Health:
    requests: int
    per_minute: float
    client_error_rate: float | None
    error_rate: float | None  # 5xx share
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Performance:
    task: str  # classification | regression
    predicted_rows: int
    labeled_rows: int
    coverage: float | None
    online: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    model: str
    version: str
    at: datetime
    window_minutes: float
    drift: DriftReport
    health: Health
    performance: Performance

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "at": self.at.isoformat(timespec="seconds"),
            "window_minutes": self.window_minutes,
            "drift": self.drift.to_dict(),
            "health": asdict(self.health),
            "performance": asdict(self.performance),
        }


def drift_config(spec: DriftSpec) -> DriftConfig:
    """The drift thresholds of a version's ``monitoring.drift``."""
    from conveyor.monitoring.drift import DriftConfig

    return DriftConfig.from_spec(spec)


def assess(
    store: Store,
    bundle: Bundle,
    minutes: float | None = None,
    now: datetime | None = None,
    last_rows: int | None = None,
) -> Assessment:
    """The version over the last ``minutes`` (default its spec's window), or over the newest
    minutes holding ``last_rows`` rows."""
    from conveyor.monitoring.drift import compare_window
    from conveyor.monitoring.live import load_recent

    now = now or datetime.now(UTC)
    ident = bundle.identity
    if last_rows is not None:
        bucket, first = load_recent(store, ident.name, ident.version, bundle.profile, last_rows)
        since = first or now
        minutes = max((now - since).total_seconds() / 60, 1.0)
    else:
        minutes = minutes or bundle.monitoring.window_minutes
        bucket, _ = load_window(store, ident.name, ident.version, bundle.profile, minutes, now)
        since = now - timedelta(minutes=minutes)
    report = compare_window(bundle.profile, bucket.window, drift_config(bundle.monitoring.drift))
    requests = bucket.requests
    health = Health(
        requests=requests,
        per_minute=requests / minutes,
        client_error_rate=bucket.client_errors / requests if requests else None,
        error_rate=bucket.server_errors / requests if requests else None,
        p50_ms=bucket.latency_quantile(0.5),
        p95_ms=bucket.latency_quantile(0.95),
        p99_ms=bucket.latency_quantile(0.99),
    )
    performance = online_performance(store, bundle, since, bucket.window.rows)
    return Assessment(ident.name, ident.version, now, minutes, report, health, performance)


def labelled_predictions(
    store: Store, bundle: Bundle, since: datetime
) -> Iterator[tuple[datetime, Any, Any]]:
    """(time of the prediction, label, prediction) of every logged row since ``since`` that
    feedback labelled: feedback joined to the inference log by request id and row."""
    ident = bundle.identity
    query = (
        sa.select(inference_log.c.at, feedback.c.row, feedback.c.label, inference_log.c.outputs)
        .join(inference_log, inference_log.c.request_id == feedback.c.request_id)
        .where(
            (inference_log.c.model == ident.name)
            & (inference_log.c.version == ident.version)
            & (inference_log.c.at >= since)
            & (inference_log.c.status == 200)
        )
    )
    with store_errors(f"read the feedback of {ident.name!r}"), store.engine.connect() as conn:
        for at, row, label, outputs in conn.execute(query):
            values = (outputs or {}).get("predictions") or []
            if 0 <= row < len(values):
                yield at, label, values[row]


def online_performance(
    store: Store, bundle: Bundle, since: datetime, predicted_rows: int
) -> Performance:
    """The task's metrics on the window's labelled predictions, next to the holdout's."""
    classification = bundle.classification
    truth: list[Any] = []
    predicted: list[Any] = []
    for _, label, prediction in labelled_predictions(store, bundle, since):
        truth.append(label)
        predicted.append(prediction)
    task = "classification" if classification else "regression"
    names = (
        ("accuracy", "precision_macro", "recall_macro", "f1_macro")
        if classification
        else ("mae", "rmse")
    )
    baseline = {k: v for k, v in bundle.identity.metrics.items() if k in names}
    online = _metrics(truth, predicted, classification) if truth else {}
    coverage = len(truth) / predicted_rows if predicted_rows else None
    return Performance(task, predicted_rows, len(truth), coverage, online, baseline)


def _metrics(truth: list[Any], predicted: list[Any], classification: bool) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics

    if classification:
        y_true = np.asarray([str(v) for v in truth])
        y_pred = np.asarray([str(v) for v in predicted])
        return {
            "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
            "precision_macro": float(
                metrics.precision_score(y_true, y_pred, average="macro", zero_division=0)
            ),
            "recall_macro": float(
                metrics.recall_score(y_true, y_pred, average="macro", zero_division=0)
            ),
            "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        }
    t = np.asarray(truth, dtype=float)
    p = np.asarray(predicted, dtype=float)
    return {
        "mae": float(metrics.mean_absolute_error(t, p)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(t, p))),
    }
