"""Alert rules on an ``Assessment``, and the alert book in the store.

``evaluate`` turns one assessment into one ``Check`` per rule: firing, healthy, or ``None``
when the window cannot tell (too few requests, rows or labels) — an undecided rule leaves
its alert as it is, so a quiet night neither raises nor clears a page. ``AlertBook.apply``
records the checks under a store lock: a firing check opens an alert (or refreshes the open
one), a healthy check resolves it. Only the process that makes a change gets it back as a
``Transition``, so when every worker evaluates the same window, one webhook goes out.

The thresholds come from the version's ``monitoring:`` settings; the Prometheus rules in
``conveyor.deploy.prometheus_rules`` apply the same numbers to the exported gauges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.monitoring.assess import MIN_REQUESTS
from conveyor.runbooks import runbook_url
from conveyor.store.errors import store_errors
from conveyor.store.tables import alerts

if TYPE_CHECKING:
    from conveyor.monitoring.assess import Assessment
    from conveyor.spec.models import MonitoringSpec
    from conveyor.store.engine import Store

# online accuracy is judged on at least this many labelled rows, whatever the coverage
MIN_LABELS = 30


@dataclass(frozen=True)
class Check:
    rule: str
    severity: str  # warning | critical
    firing: bool | None  # None: not enough evidence either way
    value: float | None
    threshold: float | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    event: str  # alert.firing | alert.resolved
    alert: dict[str, Any]


def evaluate(assessment: Assessment, spec: MonitoringSpec) -> list[Check]:
    """Every rule's verdict on one assessment."""
    checks = [
        _data_drift(assessment),
        _prediction_drift(assessment, spec),
        _accuracy(assessment, spec),
        _latency(assessment, spec),
        _error_rate(assessment, spec),
    ]
    if spec.alerts.min_accuracy is not None and assessment.performance.task == "classification":
        checks.append(_accuracy_floor(assessment, spec.alerts.min_accuracy, spec))
    if spec.alerts.min_requests_per_minute > 0:
        checks.append(_volume(assessment, spec))
    if spec.alerts.max_requests_per_second > 0:
        checks.append(_volume_high(assessment, spec))
    # every alert says where its runbook is (stored with the alert, sent with its webhooks)
    return [
        replace(c, details={**c.details, "runbook_url": runbook_url(c.rule, spec.runbook_base_url)})
        for c in checks
    ]


def _data_drift(a: Assessment) -> Check:
    from conveyor.monitoring.drift import Status

    features = a.drift.features
    drifted = [f for f in features if f.status is Status.DRIFT]
    decided = [f for f in features if f.status is not Status.INSUFFICIENT_DATA]
    details = {
        "drifted": {f.name: list(f.reasons) for f in drifted},
        "rows": max((f.rows_cur for f in features), default=0),
    }
    if drifted:
        names = ", ".join(f"{f.name} (PSI {f.psi:.2f})" if f.psi else f.name for f in drifted)
        message = f"{len(drifted)} of {len(features)} features drifted: {names}"
        return Check("data_drift", "warning", True, len(drifted), 0, message, details)
    if not decided:
        return Check("data_drift", "warning", None, None, 0, "window too small to judge", details)
    return Check("data_drift", "warning", False, 0, 0, "no feature drifted", details)


def _prediction_drift(a: Assessment, spec: MonitoringSpec) -> Check:
    threshold = spec.alerts.prediction_psi
    prediction = a.drift.prediction
    if prediction is None or prediction.psi is None or prediction.rows_cur < spec.drift.min_rows:
        rows = prediction.rows_cur if prediction else 0
        return Check(
            "prediction_drift",
            "warning",
            None,
            None,
            threshold,
            f"{rows} predictions in the window, fewer than {spec.drift.min_rows}",
        )
    psi = prediction.psi
    firing = psi > threshold
    message = f"prediction PSI {psi:.3f} ({'above' if firing else 'within'} {threshold})"
    return Check("prediction_drift", "warning", firing, psi, threshold, message)


def _accuracy(a: Assessment, spec: MonitoringSpec) -> Check:
    p = a.performance
    drop = spec.alerts.accuracy_drop
    metric = "accuracy" if p.task == "classification" else "rmse"
    details = {"metric": metric, "labeled_rows": p.labeled_rows, "coverage": p.coverage}
    if metric not in p.baseline or metric not in p.online:
        return Check(
            "accuracy_below_baseline",
            "critical",
            None,
            None,
            None,
            "no labelled predictions in the window"
            if metric not in p.online
            else f"the version has no holdout {metric}",
            details,
        )
    baseline, online = p.baseline[metric], p.online[metric]
    details |= {"online": online, "baseline": baseline}
    coverage = p.coverage or 0.0
    if coverage < spec.alerts.min_label_coverage or p.labeled_rows < MIN_LABELS:
        return Check(
            "accuracy_below_baseline",
            "critical",
            None,
            online,
            None,
            f"{p.labeled_rows} labelled rows ({coverage:.1%} of predictions): too few to judge",
            details,
        )
    if metric == "accuracy":
        threshold = baseline - drop
        firing = online < threshold
        message = (
            f"online accuracy {online:.3f} vs baseline {baseline:.3f} (alert below {threshold:.3f})"
        )
    else:  # regression: the error may grow by the same share
        threshold = baseline * (1 + drop)
        firing = online > threshold
        message = (
            f"online RMSE {online:.4g} vs baseline {baseline:.4g} (alert above {threshold:.4g})"
        )
    return Check("accuracy_below_baseline", "critical", firing, online, threshold, message, details)


def _accuracy_floor(a: Assessment, floor: float, spec: MonitoringSpec) -> Check:
    p = a.performance
    online = p.online.get("accuracy")
    details = {"metric": "accuracy", "labeled_rows": p.labeled_rows, "coverage": p.coverage}
    coverage = p.coverage or 0.0
    if online is None or coverage < spec.alerts.min_label_coverage or p.labeled_rows < MIN_LABELS:
        why = f"{p.labeled_rows} labelled rows ({coverage:.1%} of predictions): too few to judge"
        return Check("accuracy_below_floor", "critical", None, online, floor, why, details)
    message = f"online accuracy {online:.3f} over {p.labeled_rows} labels (alert below {floor:g})"
    return Check(
        "accuracy_below_floor", "critical", online < floor, online, floor, message, details
    )


def _latency(a: Assessment, spec: MonitoringSpec) -> Check:
    threshold = spec.alerts.latency_p99_ms
    h = a.health
    if h.requests < MIN_REQUESTS or h.p99_ms is None:
        return Check("latency_p99", "warning", None, h.p99_ms, threshold, f"{h.requests} requests")
    firing = h.p99_ms > threshold
    message = (
        f"p99 latency {h.p99_ms:.1f} ms over {h.requests} requests (alert above {threshold:g} ms)"
    )
    return Check("latency_p99", "warning", firing, h.p99_ms, threshold, message)


def _error_rate(a: Assessment, spec: MonitoringSpec) -> Check:
    threshold = spec.alerts.error_rate
    h = a.health
    if h.requests < MIN_REQUESTS or h.error_rate is None:
        return Check(
            "error_rate", "critical", None, h.error_rate, threshold, f"{h.requests} requests"
        )
    firing = h.error_rate > threshold
    message = (
        f"{h.error_rate:.2%} of {h.requests} requests answered 5xx (alert above {threshold:.2%})"
    )
    return Check("error_rate", "critical", firing, h.error_rate, threshold, message)


def _volume(a: Assessment, spec: MonitoringSpec) -> Check:
    threshold = spec.alerts.min_requests_per_minute
    rate = a.health.per_minute
    firing = rate < threshold
    message = f"{rate:.1f} requests/min over {a.window_minutes:g} min (alert below {threshold:g})"
    return Check("request_volume", "warning", firing, rate, threshold, message)


def _volume_high(a: Assessment, spec: MonitoringSpec) -> Check:
    threshold = spec.alerts.max_requests_per_second
    rate = a.health.per_minute / 60
    message = f"{rate:.1f} requests/s over {a.window_minutes:g} min (alert above {threshold:g})"
    return Check("request_volume_high", "warning", rate > threshold, rate, threshold, message)


class AlertBook:
    """Open, refresh and resolve alerts in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def apply(
        self, model: str, version: str, checks: Sequence[Check], now: datetime | None = None
    ) -> list[Transition]:
        now = now or datetime.now(UTC)
        transitions: list[Transition] = []
        with (
            store_errors(f"record the alerts of {model!r}"),
            self.store.locked(f"alerts:{model}") as conn,
        ):
            open_rows = {
                row.rule: row
                for row in conn.execute(
                    sa.select(alerts).where(
                        (alerts.c.model == model)
                        & (alerts.c.version == version)
                        & (alerts.c.state == "firing")
                    )
                )
            }
            for check in checks:
                current = open_rows.get(check.rule)
                values = {
                    "severity": check.severity,
                    "value": check.value,
                    "threshold": check.threshold,
                    "message": check.message,
                    "details": check.details,
                    "updated_at": now,
                }
                if check.firing and current is None:
                    result = conn.execute(
                        alerts.insert().values(
                            model=model,
                            version=version,
                            rule=check.rule,
                            state="firing",
                            started_at=now,
                            **values,
                        )
                    )
                    alert_id = result.inserted_primary_key[0]  # type: ignore[index]
                    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).one()
                    transitions.append(Transition("alert.firing", alert_dict(row)))
                elif check.firing and current is not None:
                    if (current.details or {}).get("silenced"):  # not yet told: keep the mark
                        values["details"] = {**check.details, "silenced": True}
                    conn.execute(alerts.update().where(alerts.c.id == current.id).values(**values))
                elif check.firing is False and current is not None:
                    conn.execute(
                        alerts.update()
                        .where(alerts.c.id == current.id)
                        .values(state="resolved", resolved_at=now, **values)
                    )
                    row = conn.execute(sa.select(alerts).where(alerts.c.id == current.id)).one()
                    transitions.append(Transition("alert.resolved", alert_dict(row)))
        return transitions

    def set_details(self, alert_id: int, details: dict[str, Any]) -> None:
        with store_errors("update an alert"), self.store.engine.begin() as conn:
            conn.execute(alerts.update().where(alerts.c.id == alert_id).values(details=details))

    def list(
        self, model: str | None = None, state: str | None = "firing", limit: int = 100
    ) -> list[dict[str, Any]]:
        query = sa.select(alerts).order_by(alerts.c.started_at.desc(), alerts.c.id.desc())
        if model:
            query = query.where(alerts.c.model == model)
        if state:
            query = query.where(alerts.c.state == state)
        with store_errors("list alerts"), self.store.engine.connect() as conn:
            return [alert_dict(row) for row in conn.execute(query.limit(limit))]


def alert_dict(row: Any) -> dict[str, Any]:
    def stamp(value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite hands back naive datetimes
            value = value.replace(tzinfo=UTC)
        return value.isoformat(timespec="seconds")

    return {
        "id": row.id,
        "model": row.model,
        "version": row.version,
        "rule": row.rule,
        "severity": row.severity,
        "state": row.state,
        "value": row.value,
        "threshold": row.threshold,
        "message": row.message,
        "details": row.details or {},
        "started_at": stamp(row.started_at),
        "updated_at": stamp(row.updated_at),
        "resolved_at": stamp(row.resolved_at),
    }
