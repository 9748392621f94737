"""Prometheus metrics of one server, on its own registry (multiprocess-aware with workers > 1)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """Every metric the server exports; names follow Prometheus conventions."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        if multiprocess_dir is None:
            # process_cpu_seconds_total, process_resident_memory_bytes...: the dashboard's
            # resources (with --workers N each scrape reaches one worker, so they are left out)
            ProcessCollector(registry=r)
        self.requests = Counter(
            "conveyor_requests_total",
            "HTTP requests by route, model, version and status code.",
            ["route", "model", "version", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "conveyor_request_duration_seconds",
            "Time from request received to response ready.",
            ["route", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "conveyor_batch_rows",
            "Rows per model call after micro-batching.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "conveyor_predictions_total",
            "Predicted rows by model, version and class (regression: class is empty).",
            ["model", "version", "class"],
            registry=r,
        )
        self.load_seconds = Gauge(
            "conveyor_model_load_seconds",
            "How long the current model version took to load.",
            ["model", "version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.model_info = Gauge(
            "conveyor_model_info",
            "The loaded model version (value 1), by name, version, stage, semver and runtime.",
            ["model", "version", "stage", "semver", "runtime"],
            registry=r,
            multiprocess_mode="max",
        )
        self.log_queue = Gauge(
            "conveyor_inference_log_queue_depth",
            "Inference-log records waiting to be written.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.log_spooled = Gauge(
            "conveyor_inference_log_spool_segments",
            "Spooled inference-log segments not yet moved into the store (growing: the "
            "ingester is behind or the store is down).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.log_dropped = Counter(
            "conveyor_inference_log_dropped_total",
            "Inference-log records of answered predictions that were dropped, by reason "
            "(buffer_full, spool_full: CONVEYOR_INFERENCE_LOG_WHEN_FULL=drop_oldest).",
            ["reason"],
            registry=r,
        )
        for reason in ("buffer_full", "spool_full"):
            self.log_dropped.labels(reason)
        self.log_refused = Counter(
            "conveyor_inference_log_refused_total",
            "Predictions answered 503 because the inference log could not keep their record "
            "(spool full or unwritable, buffer full; CONVEYOR_INFERENCE_LOG_WHEN_FULL=reject).",
            registry=r,
        )
        self.log_spool_bytes = Gauge(
            "conveyor_inference_log_spool_bytes",
            "Bytes of spooled inference-log segments not yet moved into the store.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.log_spool_max_bytes = Gauge(
            "conveyor_inference_log_spool_max_bytes",
            "The spool's size limit (CONVEYOR_INFERENCE_LOG_SPOOL_MAX_BYTES); 0: none.",
            registry=r,
            multiprocess_mode="max",
        )
        self.log_spool_oldest = Gauge(
            "conveyor_inference_log_spool_oldest_seconds",
            "Age of the oldest spooled inference-log segment: how far the store is behind.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.ingester_up = Gauge(
            "conveyor_inference_log_ingester_up",
            "1 while the inference-log ingester process runs (0 in any worker: 0).",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.ingester_restarts = Counter(
            "conveyor_inference_log_ingester_restarts_total",
            "Times the inference-log ingester process died and was started again.",
            registry=r,
        )
        self.store_up = Gauge(
            "conveyor_store_up",
            "1 while the Conveyor store answers the server's probe.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.store_recreated = Counter(
            "conveyor_store_recreated_total",
            "Times the store's SQLite file was found deleted or replaced while in use and was "
            "created again.",
            registry=r,
        )
        self.log_written = Counter(
            "conveyor_inference_log_written_total",
            "Inference-log records written to the spool.",
            registry=r,
        )

        # model-level results of the monitor: every worker computes the same values from the
        # store, so the most recent write is the answer
        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, registry=r, multiprocess_mode="mostrecent")

        mv = ["model", "version"]
        self.drift_detected = gauge(
            "conveyor_drift_detected", "1 when a feature of the window drifted.", mv
        )
        self.feature_drift_score = gauge(
            "conveyor_feature_drift_score",
            "PSI of a feature's window against the training reference.",
            [*mv, "feature"],
        )
        self.feature_drift_p_value = gauge(
            "conveyor_feature_drift_p_value",
            "Corrected p-value of a feature's drift test (KS or chi-square).",
            [*mv, "feature"],
        )
        self.feature_drifted = gauge(
            "conveyor_feature_drifted",
            "1 when the feature drifted (significant and PSI at the alert level).",
            [*mv, "feature"],
        )
        self.prediction_psi = gauge(
            "conveyor_prediction_psi", "PSI of the window's predictions against the holdout's.", mv
        )
        self.online_metric = gauge(
            "conveyor_online_metric",
            "Metric on labelled traffic (feedback joined to predictions) in the window.",
            [*mv, "metric"],
        )
        self.baseline_metric = gauge(
            "conveyor_baseline_metric", "The version's holdout metric at training.", [*mv, "metric"]
        )
        self.label_coverage = gauge(
            "conveyor_label_coverage", "Share of the window's predicted rows with feedback.", mv
        )
        self.window_rows = gauge(
            "conveyor_monitor_window_rows", "Rows in the monitored window.", mv
        )
        self.alerts_firing = gauge(
            "conveyor_alerts_firing", "Conveyor's own alerts firing, by rule.", [*mv, "rule"]
        )
        self.rollout_weight = gauge(
            "conveyor_rollout_weight",
            "Percent of requests each version answers (arm production or candidate).",
            [*mv, "arm"],
        )
        self.rollout_step = gauge(
            "conveyor_rollout_step", "Index of the running rollout's step; -1 when none.", ["model"]
        )
        self.rollouts_ended = gauge(
            "conveyor_rollouts_ended",
            "Rollouts of the model that ended, by outcome (succeeded: promoted; rolled_back; "
            "aborted).",
            ["model", "outcome"],
        )
        self.rollout_check = gauge(
            "conveyor_rollout_check",
            "The latest verdict of each check of the running rollout (value 1).",
            ["model", "version", "check", "verdict"],
        )
        self.feature_age = gauge(
            "conveyor_feature_age_seconds",
            "Seconds since the feature view's last materialization into the online store "
            "ended (+Inf: never materialized).",
            ["model", "view"],
        )
        self.feature_max_age = gauge(
            "conveyor_feature_max_age_seconds",
            "The age the view's online values may reach before they are stale "
            "(data.feast.max_age_seconds).",
            ["model", "view"],
        )
        self.feature_lookup = Histogram(
            "conveyor_feature_lookup_seconds",
            "Time of one request's online-store lookup of features by entity key.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.feature_unknown_entities = Counter(
            "conveyor_feature_unknown_entities_total",
            "Rows whose entity the online store did not know (refused, or given the defaults).",
            ["model"],
            registry=r,
        )
        self.monitor_dropped = Counter(
            "conveyor_monitor_dropped_total",
            "Observations the live monitor dropped because its buffer was full.",
            registry=r,
        )

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged)
