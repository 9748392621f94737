"""A served version's window step by step: traffic, latency, errors and online accuracy.

``load_history`` reads the window's live buckets (``monitor_buckets``, one row per minute and
process) once, merges them per step across processes, and joins the feedback that arrived
for the window's predictions (as ``assess.online_performance`` does), grouped by the step
the prediction was made in. A window of up to ``MAX_STEPS`` minutes is per minute; a longer
one gets wider steps, so a week reads as a few hundred points, not ten thousand.
``firing_alerts`` lists what the servers' alert evaluator left firing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.clock import as_utc
from conveyor.monitoring.assess import labelled_predictions
from conveyor.monitoring.live import Bucket, bucket_rows, merge_state

if TYPE_CHECKING:
    from conveyor.bundle.model import Bundle
    from conveyor.monitoring.window import WindowCounts
    from conveyor.store.engine import Store

MAX_STEPS = 180


@dataclass(frozen=True)
class Step:
    """What one version saw in one step of the window (every process merged)."""

    start: datetime
    requests: int = 0
    rows: int = 0  # rows predicted (what label coverage is a share of)
    client_errors: int = 0
    server_errors: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    labeled: int = 0  # predicted rows with feedback
    metric: float | None = None  # the online metric over the labelled rows

    @property
    def error_rate(self) -> float | None:
        return self.server_errors / self.requests if self.requests else None

    @property
    def coverage(self) -> float | None:
        return min(self.labeled / self.rows, 1.0) if self.rows else None


@dataclass(frozen=True)
class History:
    """The steps of a window, its online metric and baseline, and its merged drift counts."""

    start: datetime
    end: datetime
    step_minutes: int
    steps: tuple[Step, ...]
    metric: str  # accuracy (classification) | mae (regression)
    baseline: float | None  # the metric on the training holdout
    window: WindowCounts  # the whole window's counts over the reference profile
    step_windows: tuple[WindowCounts, ...] = ()  # each step's counts, for drift over time

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.steps)

    @property
    def labeled(self) -> int:
        return sum(s.labeled for s in self.steps)


@dataclass(frozen=True)
class Alert:
    """One firing alert, as the alert evaluator stored it."""

    version: str
    rule: str
    severity: str
    message: str
    started_at: datetime
    value: float | None = None
    threshold: float | None = None


def load_history(
    store: Store, bundle: Bundle, minutes: float, now: datetime | None = None
) -> History:
    """The last ``minutes`` of a version, step by step (the same rows ``load_window`` reads)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(minutes=minutes)
    start = since.replace(second=0, microsecond=0)
    span = int((now - start).total_seconds() // 60) + 1
    step = max(1, math.ceil(span / MAX_STEPS))
    count = math.ceil(span / step)
    ident = bundle.identity
    buckets = [Bucket.empty(bundle.profile) for _ in range(count)]
    for minute, state in bucket_rows(store, ident.name, ident.version, start):
        at = _index(as_utc(minute), start, step, count)
        if at is not None:
            merge_state(buckets[at], bundle.profile, state)
    classification = bundle.classification
    labels = _labels(store, bundle, since, start, step, count)
    steps = tuple(
        Step(
            start=start + timedelta(minutes=i * step),
            requests=b.requests,
            rows=b.window.rows,
            client_errors=b.client_errors,
            server_errors=b.server_errors,
            p50_ms=b.latency_quantile(0.5),
            p99_ms=b.latency_quantile(0.99),
            labeled=len(labels[i]),
            metric=_metric(labels[i], classification) if labels[i] else None,
        )
        for i, b in enumerate(buckets)
    )
    window = Bucket.empty(bundle.profile)
    for b in buckets:
        window.merge(b)
    metric = "accuracy" if classification else "mae"
    return History(
        start=start,
        end=now,
        step_minutes=step,
        steps=steps,
        metric=metric,
        baseline=ident.metrics.get(metric),
        window=window.window,
        step_windows=tuple(b.window for b in buckets),
    )


def _labels(
    store: Store, bundle: Bundle, since: datetime, start: datetime, step: int, count: int
) -> list[list[tuple[Any, Any]]]:
    """(label, prediction) pairs per step of the prediction, as ``online_performance`` joins them."""
    pairs: list[list[tuple[Any, Any]]] = [[] for _ in range(count)]
    for at, label, prediction in labelled_predictions(store, bundle, since):
        index = _index(as_utc(at), start, step, count)
        if index is not None:
            pairs[index].append((label, prediction))
    return pairs


def _metric(pairs: list[tuple[Any, Any]], classification: bool) -> float | None:
    if classification:  # labels compare as strings, like assess's accuracy
        return sum(str(t) == str(p) for t, p in pairs) / len(pairs)
    errors = []
    for truth, predicted in pairs:
        try:
            errors.append(abs(float(truth) - float(predicted)))
        except (TypeError, ValueError):  # a label that is not a number says nothing about MAE
            continue
    return sum(errors) / len(errors) if errors else None


def _index(at: datetime, start: datetime, step: int, count: int) -> int | None:
    index = int((at - start).total_seconds() // 60) // step
    return index if 0 <= index < count else None


def firing_alerts(store: Store, model: str, limit: int = 100) -> list[Alert]:
    """The model's alerts still firing (any version), newest first."""
    from conveyor.monitoring.alerts import AlertBook

    return [
        Alert(
            version=str(a["version"]),
            rule=str(a["rule"]),
            severity=str(a["severity"]),
            message=str(a["message"]),
            started_at=datetime.fromisoformat(a["started_at"]),
            value=a["value"],
            threshold=a["threshold"],
        )
        for a in AlertBook(store).list(model, "firing", limit)
    ]
