"""The server's watcher: live counts in, gauges and alerts out, on one background thread.

Every ``flush_seconds`` the thread writes this process's live buckets to the store; every
``interval`` (the served version's ``monitoring.interval_seconds`` unless the server
overrides it) it assesses each served version over its window, sets the monitoring gauges,
records alerts and posts the alert webhooks. Every worker and replica does the same from the
same store rows, so their gauges agree and the store lock lets one of them report each
change. A failing store or webhook is logged and retried on the next round; requests never
wait for any of it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.errors import ServiceUnavailableError
from conveyor.monitoring.alerts import AlertBook, evaluate
from conveyor.monitoring.assess import Assessment, assess
from conveyor.monitoring.live import LiveMonitor
from conveyor.monitoring.silences import Silences
from conveyor.notify import WebhookPolicy, post_event

if TYPE_CHECKING:
    from conveyor.bundle.model import Bundle
    from conveyor.store.engine import Store

log = logging.getLogger(__name__)


class WatchMetrics(Protocol):
    """The Prometheus counter and gauges the watcher sets. The server's ``ServerMetrics`` has
    them; a Protocol here keeps monitoring from depending on the serving package."""

    monitor_dropped: Any
    drift_detected: Any
    window_rows: Any
    feature_drift_score: Any
    feature_drift_p_value: Any
    feature_drifted: Any
    prediction_psi: Any
    online_metric: Any
    baseline_metric: Any
    label_coverage: Any
    alerts_firing: Any


class Watcher:
    def __init__(
        self,
        store: Store,
        metrics: WatchMetrics,
        served: Callable[[], list[Bundle]],
        *,
        flush_seconds: float = 5.0,
        interval_seconds: float | None = None,
        webhook_secret: str | None = None,
        webhook_policy: WebhookPolicy | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.served = served
        self.flush_seconds = flush_seconds
        self.interval_seconds = interval_seconds
        self.webhook_secret = webhook_secret
        self.webhook_policy = webhook_policy
        self.live = LiveMonitor(store, dropped=metrics.monitor_dropped)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the thread's rounds and on-demand ones (tests, admin)
        self._thread: threading.Thread | None = None
        self._published: dict[tuple[str, str], set[tuple[Any, tuple[str, ...]]]] = {}
        self.rounds = 0

    # ---------------------------------------------------------------- request path
    def rows_observer(self, bundle: Bundle) -> Callable[[Mapping[str, Any], Any], None]:
        """For a version's micro-batcher: what each model call saw and predicted."""
        ident, profile, live = bundle.identity, bundle.profile, self.live

        def observe(columns: Mapping[str, Any], predictions: Any) -> None:
            live.observe_rows(ident.name, ident.version, profile, columns, predictions)

        return observe

    def request(self, bundle: Bundle, latency_ms: float, status: int) -> None:
        """One request's latency and status (a failure, too, before the model ran)."""
        ident = bundle.identity
        self.live.observe_request(ident.name, ident.version, bundle.profile, latency_ms, status)

    # ---------------------------------------------------------------- background
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="conveyor-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; what was observed since the last flush is written first."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(60)
        self._thread = None

    def interval(self) -> float:
        if self.interval_seconds is not None:
            return self.interval_seconds
        served = self.served()
        return min((b.monitoring.interval_seconds for b in served), default=60.0)

    def _run(self) -> None:
        next_round = time.monotonic() + min(self.interval(), 10.0)  # a first look soon
        down = False  # the store: said once when it goes, once when it is back
        while True:
            stopping = self._stop.wait(self.flush_seconds)
            assessed = False
            try:
                with self._lock:
                    self.live.flush()
                if time.monotonic() >= next_round and not stopping:
                    next_round = time.monotonic() + self.interval()
                    self.round()
                    assessed = True  # it read the store (a flush may have had nothing to write)
            except ServiceUnavailableError as exc:  # counts stay in memory until it is back
                if not down:
                    log.warning("monitor: %s; counts kept in memory", exc.message)
                down = True
            except Exception:
                log.exception("monitor: round failed")
            else:
                if down and assessed:
                    log.warning("monitor: the store answers again")
                    down = False
            if stopping:
                return

    def round(self) -> list[Assessment]:
        """Assess every served version now: gauges, alerts, webhooks."""
        with self._lock:
            return self._round()

    def _round(self) -> list[Assessment]:
        self.live.flush()
        book = AlertBook(self.store)
        results = []
        served = self.served()
        for bundle in served:
            assessment = assess(self.store, bundle)
            checks = evaluate(assessment, bundle.monitoring)
            ident = bundle.identity
            transitions = book.apply(ident.name, ident.version, checks, assessment.at)
            firing = {a["rule"] for a in book.list(ident.name) if a["version"] == ident.version}
            self._publish(assessment, bundle, {c.rule: c.rule in firing for c in checks})
            silences = Silences(self.store)
            for transition in transitions:
                alert = transition.alert
                silence = silences.covering(alert["model"], alert["rule"], assessment.at)
                if silence is not None:
                    log.info(
                        "alert %s of %s version %s is silenced until %s by %s (%s): no webhook",
                        alert["rule"],
                        alert["model"],
                        alert["version"],
                        silence.until.isoformat(timespec="seconds"),
                        silence.created_by,
                        silence.reason,
                    )
                    if transition.event == "alert.firing":  # told once the silence is over
                        book.set_details(alert["id"], {**alert["details"], "silenced": True})
                    continue
                log.warning(
                    "alert %s: %s %s version %s: %s",
                    "firing" if transition.event == "alert.firing" else "resolved",
                    alert["rule"],
                    alert["model"],
                    alert["version"],
                    alert["message"],
                )
                post_event(
                    bundle.monitoring.webhooks,
                    transition.event,
                    {"alert": alert},
                    self.webhook_secret,
                    policy=self.webhook_policy,
                )
            self._after_silences(book, silences, bundle, ident.name, ident.version, assessment)
            results.append(assessment)
        self._forget({(b.identity.name, b.identity.version) for b in served})
        self.rounds += 1
        return results

    def _after_silences(
        self,
        book: AlertBook,
        silences: Silences,
        bundle: Bundle,
        model: str,
        version: str,
        assessment: Assessment,
    ) -> None:
        """Alerts that opened under a silence and still fire once it is over: notify now."""
        for alert in book.list(model):
            if alert["version"] != version or not alert["details"].get("silenced"):
                continue
            if silences.covering(model, alert["rule"], assessment.at) is not None:
                continue
            details = {k: v for k, v in alert["details"].items() if k != "silenced"}
            book.set_details(alert["id"], details)
            post_event(
                bundle.monitoring.webhooks,
                "alert.firing",
                {"alert": {**alert, "details": details}},
                self.webhook_secret,
                policy=self.webhook_policy,
            )

    # ---------------------------------------------------------------- gauges
    def _publish(self, a: Assessment, bundle: Bundle, firing: Mapping[str, bool]) -> None:
        m = self.metrics
        key = (a.model, a.version)
        published = self._published.setdefault(key, set())

        def put(gauge: Any, labels: tuple[str, ...], value: float) -> None:
            gauge.labels(*labels).set(value)
            published.add((gauge, labels))

        mv = (a.model, a.version)
        report = a.drift
        put(m.drift_detected, mv, 1.0 if any(f.status == "drift" for f in report.features) else 0.0)
        put(m.window_rows, mv, float(max((f.rows_cur for f in report.features), default=0)))
        for f in report.features:
            labels = (*mv, f.name)
            if f.psi is not None:
                put(m.feature_drift_score, labels, f.psi)
            if f.p_adjusted is not None:
                put(m.feature_drift_p_value, labels, f.p_adjusted)
            put(m.feature_drifted, labels, 1.0 if f.status == "drift" else 0.0)
        if report.prediction is not None and report.prediction.psi is not None:
            put(m.prediction_psi, mv, report.prediction.psi)
        perf = a.performance
        for name, value in perf.online.items():
            put(m.online_metric, (*mv, name), value)
        for name, value in perf.baseline.items():
            put(m.baseline_metric, (*mv, name), value)
        if perf.coverage is not None:
            put(m.label_coverage, mv, perf.coverage)
        for rule, on in firing.items():
            put(m.alerts_firing, (*mv, rule), 1.0 if on else 0.0)

    def _forget(self, served: set[tuple[str, str]]) -> None:
        """Drop the gauges of versions no longer served, so dashboards do not show ghosts."""
        for key in [k for k in self._published if k not in served]:
            for gauge, labels in self._published.pop(key):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
