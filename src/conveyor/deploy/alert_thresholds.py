"""What the generated Prometheus rules and Grafana dashboard share: when each alert fires
(``AlertThresholds``) and which routes run the model (``INFERENCE_ROUTES``).

``AlertThresholds.from_spec`` reads a project's ``monitoring:`` section, the one the server's
own alerts (``conveyor.monitoring.alerts``) evaluate, so both apply the same numbers; the
defaults here are the spec's defaults (a test keeps them equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from conveyor.errors import UserError
from conveyor.runbooks import DEFAULT_BASE

if TYPE_CHECKING:
    from conveyor.spec.models import MonitoringSpec

# The routes that run the model; health, admin and feedback routes say nothing about latency.
INFERENCE_ROUTES = "/predict|/invocations|/v2/models/.+/infer"

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_JOB = re.compile(r"^[A-Za-z0-9_.:-]+$")


@dataclass(frozen=True)
class AlertThresholds:
    """When each alert fires. Shares are fractions (0.01 = 1 %); durations are Prometheus
    durations (``30s``, ``10m``, ``1h``)."""

    psi_alert: float = 0.3  # prediction PSI (alerts.prediction_psi)
    min_window_rows: int = 100  # prediction PSI needs this many rows (drift.min_rows)
    # absolute drop of online accuracy below the holdout's; for regression, the share by
    # which online RMSE may exceed the holdout's (as the server's own rule reads it)
    accuracy_drop: float = 0.05
    min_label_coverage: float = 0.1  # online metrics are judged only with this share labelled
    latency_p99_seconds: float = 0.1  # alerts.latency_p99_ms / 1000
    error_rate: float = 0.01  # share of requests answered 5xx (4xx are the client's mistake)
    min_request_rate: float = 0.0  # inference requests/s per model; 0 disables the rule
    max_request_rate: float = 10_000.0  # inference requests/s per model; 0 disables the rule
    min_accuracy: float | None = None  # online accuracy floor; None: no rule
    spool_backlog_segments: int = 50  # spooled inference-log segments before "backlog"
    spool_age_seconds: float = 300.0  # age of the oldest spooled segment: the store is behind
    spool_full_share: float = 0.8  # share of CONVEYOR_INFERENCE_LOG_SPOOL_MAX_BYTES used
    rate_window: str = "5m"  # range of rate() / deriv()
    job: str = "conveyor"  # the Prometheus job scraping the servers (prometheus.yml's)
    runbook_base: str = DEFAULT_BASE  # each rule's runbook_url is this plus its section
    drift_for: str = "10m"
    accuracy_for: str = "10m"
    latency_for: str = "10m"
    error_rate_for: str = "5m"
    volume_for: str = "10m"
    log_dropping_for: str = "5m"
    log_backlog_for: str = "10m"
    spool_age_for: str = "5m"
    spool_full_for: str = "1m"
    ingester_down_for: str = "1m"
    log_refusing_for: str = "1m"
    store_down_for: str = "5m"
    model_missing_for: str = "5m"
    features_stale_for: str = "5m"

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            if (f.name.endswith("_for") or f.name == "rate_window") and not _DURATION.match(value):
                problems.append(f"{f.name}: {value!r} is not a Prometheus duration like 10m")
        if self.rate_window.strip("0msdhwy") == "":
            problems.append(f"rate_window: {self.rate_window!r} must be longer than zero")
        if not _JOB.match(self.job):
            problems.append(f"job: {self.job!r} may hold letters, digits and _ . : - only")
        for name in ("accuracy_drop", "min_label_coverage", "error_rate", "spool_full_share"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name}: {getattr(self, name)} must be between 0 and 1")
        for name in (
            "psi_alert",
            "latency_p99_seconds",
            "min_request_rate",
            "max_request_rate",
            "spool_age_seconds",
        ):
            if getattr(self, name) < 0:
                problems.append(f"{name}: {getattr(self, name)} must not be negative")
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 1:
            problems.append(f"min_accuracy: {self.min_accuracy} must be between 0 and 1")
        if self.min_window_rows < 0 or self.spool_backlog_segments < 0:
            problems.append("min_window_rows and spool_backlog_segments must not be negative")
        if problems:
            raise UserError("invalid alert thresholds:\n  " + "\n  ".join(problems))

    @classmethod
    def from_spec(cls, monitoring: MonitoringSpec, **overrides: Any) -> AlertThresholds:
        """The thresholds of a project's ``monitoring:`` section; ``overrides`` set the fields
        the spec does not have (``for`` durations, ``rate_window``, ``job``...)."""
        alerts = monitoring.alerts
        from_spec: dict[str, Any] = {
            "psi_alert": alerts.prediction_psi,
            "min_window_rows": monitoring.drift.min_rows,
            "accuracy_drop": alerts.accuracy_drop,
            "min_label_coverage": alerts.min_label_coverage,
            "latency_p99_seconds": alerts.latency_p99_ms / 1000,
            "error_rate": alerts.error_rate,
            "min_request_rate": alerts.min_requests_per_minute / 60,
            "max_request_rate": alerts.max_requests_per_second,
            "min_accuracy": alerts.min_accuracy,
            "runbook_base": monitoring.runbook_base_url,
        }
        return cls(**{**from_spec, **overrides})


def num(value: float) -> str:
    """A number as PromQL reads it, without a trailing ``.0`` (``0.3``, ``100``): the rules
    and the dashboard write thresholds the same way."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
