"""The ``monitoring`` section: the drift thresholds, the alerts and where they are sent."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from conveyor.spec.base import SpecSection, WebhookSpec, http_urls


class DriftSpec(SpecSection):
    """When a feature counts as drifted: a corrected test AND an effect over its threshold."""

    alpha: float = Field(default=0.05, gt=0, lt=1, description="Family-wise significance level.")
    correction: Literal["bh", "bonferroni", "none"] = Field(
        default="bh",
        description="Correction for testing many features: Benjamini-Hochberg, Bonferroni, none.",
    )
    psi_warn: float = Field(default=0.2, ge=0, description="PSI of a feature that warns.")
    psi_alert: float = Field(default=0.3, ge=0, description="PSI of a feature that is drift.")
    missing_warn: float = Field(
        default=0.05, ge=0, le=1, description="Change of a feature's missing share that warns."
    )
    missing_alert: float = Field(
        default=0.2, ge=0, le=1, description="Change of a feature's missing share that is drift."
    )
    unseen_warn: float = Field(
        default=0.05, ge=0, le=1, description="Share of values in unseen categories that warns."
    )
    unseen_alert: float = Field(
        default=0.2, ge=0, le=1, description="Share of values in unseen categories that is drift."
    )
    min_rows: int = Field(
        default=100,
        ge=1,
        description="Rows a window needs before drift is judged; smaller: insufficient_data.",
    )

    @model_validator(mode="after")
    def _warn_below_alert(self) -> DriftSpec:
        for signal in ("psi", "missing", "unseen"):
            warn, alert = getattr(self, f"{signal}_warn"), getattr(self, f"{signal}_alert")
            if warn > alert:
                raise ValueError(
                    f"{signal} thresholds need {signal}_warn <= {signal}_alert, "
                    f"got {warn:g} > {alert:g}"
                )
        return self


class AlertSpec(SpecSection):
    """Alert thresholds, evaluated by the server and shipped as Prometheus rules."""

    prediction_psi: float = Field(
        default=0.3, ge=0, description="PSI of the predictions against the holdout's that alerts."
    )
    accuracy_drop: float = Field(
        default=0.05, ge=0, le=1, description="Online metric below the training baseline by this."
    )
    min_accuracy: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Classification: online accuracy below this alerts, whatever the baseline "
        "(an absolute floor beside the drop); unset: no floor.",
        examples=[0.7],
    )
    min_label_coverage: float = Field(
        default=0.1, ge=0, le=1, description="Share of predictions with feedback before judging."
    )
    latency_p99_ms: float = Field(
        default=100.0, gt=0, description="p99 request latency in milliseconds that alerts."
    )
    error_rate: float = Field(default=0.01, ge=0, le=1, description="Share of 5xx responses.")
    min_requests_per_minute: float = Field(
        default=0.0, ge=0, description="Traffic below this alerts (a silent client); 0 disables."
    )
    max_requests_per_second: float = Field(
        default=10_000.0,
        ge=0,
        description="Inference traffic above this alerts (a runaway client, a retry storm, an "
        "attack; size it to what the replicas were load-tested for); 0 disables.",
        examples=[2000],
    )


class MonitoringSpec(SpecSection):
    """What the server watches in production (carried by each registered version)."""

    window_minutes: float = Field(default=60.0, gt=0, description="The window drift is judged on.")
    interval_seconds: float = Field(default=60.0, ge=1, description="How often alerts are checked.")
    drift: DriftSpec = Field(default_factory=DriftSpec, description="When a feature drifted.")
    alerts: AlertSpec = Field(default_factory=AlertSpec, description="Alert thresholds.")
    runbook_base_url: str = Field(
        default="docs/runbooks.md",
        description="Where the runbooks are: each alert carries runbook_url = this plus the "
        "anchor of its section (point it at your copy, e.g. the file in your Git host).",
        examples=["https://github.com/acme/models/blob/main/docs/runbooks.md"],
    )
    webhooks: list[str | WebhookSpec] = Field(
        default_factory=list,
        description="http(s) URLs that receive alerts (signed with CONVEYOR_WEBHOOK_SECRET), or "
        "{url, format: slack} for a Slack message.",
        examples=[
            [
                "https://hooks.example.com/conveyor",
                {"url": "https://hooks.slack.com/services/T0/B0/XXXX", "format": "slack"},
            ]
        ],
    )

    _urls = field_validator("webhooks")(http_urls)
