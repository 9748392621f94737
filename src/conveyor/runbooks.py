"""Where each alert's runbook is: a section of ``docs/runbooks.md``.

Every Prometheus rule, every rule of the server's own alert book and every rollout event that
asks for a person carries ``runbook_url`` = the base (``monitoring.runbook_base_url``, default
the file in this repository) plus the anchor of its section. A test checks that each anchor is
a heading of the file.

The server's alert book (``monitoring``), rollout events (``rollout``) and the generated
Prometheus rules (``deploy``) all name these sections, so the table sits below all three.
"""

from __future__ import annotations

DEFAULT_BASE = "docs/runbooks.md"

# alert (Prometheus rule, server rule or rollout event) -> the anchor of its section
SECTIONS: dict[str, str] = {
    # model quality
    "ConveyorDataDrift": "data-drift",
    "data_drift": "data-drift",
    "ConveyorPredictionDrift": "prediction-drift",
    "prediction_drift": "prediction-drift",
    "ConveyorAccuracyBelowBaseline": "online-accuracy-below-the-baseline",
    "ConveyorRmseAboveBaseline": "online-accuracy-below-the-baseline",
    "accuracy_below_baseline": "online-accuracy-below-the-baseline",
    "ConveyorAccuracyBelowFloor": "online-accuracy-below-the-floor",
    "accuracy_below_floor": "online-accuracy-below-the-floor",
    # serving
    "ConveyorHighLatencyP99": "high-p99-latency",
    "latency_p99": "high-p99-latency",
    "ConveyorHighErrorRate": "high-error-rate",
    "error_rate": "high-error-rate",
    "ConveyorLowRequestVolume": "low-request-volume",
    "request_volume": "low-request-volume",
    "ConveyorHighRequestVolume": "high-request-volume",
    "request_volume_high": "high-request-volume",
    "ConveyorModelNotLoaded": "model-not-loaded",
    "ConveyorNoModelServed": "no-model-served",
    "ConveyorFeaturesStale": "online-features-stale",
    # the inference log and the store
    "ConveyorInferenceLogDropping": "inference-log-records-dropped",
    "ConveyorInferenceLogBacklog": "inference-log-behind",
    "ConveyorInferenceLogSpoolAge": "inference-log-behind",
    "ConveyorInferenceLogSpoolNearlyFull": "spool-full",
    "ConveyorInferenceLogRefusing": "spool-full",
    "ConveyorInferenceLogIngesterDown": "ingester-down",
    "ConveyorStoreUnavailable": "store-unavailable",
    # rollouts
    "rollout.rolled_back": "rollout-rolled-back",
    "rollout.paused": "rollout-paused",
    "rollout.aborted": "rollout-aborted",
}


def runbook_url(alert: str, base: str = DEFAULT_BASE) -> str:
    """``base#anchor`` of the alert's section; the runbooks' index for an unknown alert."""
    anchor = SECTIONS.get(alert, "runbooks")
    return f"{base}#{anchor}"
