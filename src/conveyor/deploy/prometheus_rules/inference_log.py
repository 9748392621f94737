"""Rules on the inference log and the store behind it: records dropped or refused, a spool
that grows, ages or fills, an ingester that is down, a store that cannot be reached."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import AlertThresholds, num
from conveyor.deploy.prometheus_rules.rule import rule


def inference_log_rules(t: AlertThresholds) -> list[dict[str, Any]]:
    """The ``conveyor-inference-log`` group's rules."""
    w = t.rate_window
    return [
        rule(
            "ConveyorInferenceLogDropping",
            f"rate(conveyor_inference_log_dropped_total[{w}]) > 0",
            t.log_dropping_for,
            "warning",
            "{{ $labels.instance }} drops inference-log records",
            '{{ printf "%.3g" $value }} records/s of answered predictions are dropped '
            "({{ $labels.reason }}): drift and online accuracy miss that traffic.",
            "buffer_full: the writer cannot keep up: check the disk under CONVEYOR_HOME/spool, "
            "raise CONVEYOR_INFERENCE_LOG_BUFFER or add replicas. spool_full: the store has "
            "not taken the log for a while (see ConveyorInferenceLogSpoolAge).",
        ),
        rule(
            "ConveyorInferenceLogBacklog",
            f"(conveyor_inference_log_spool_segments > {t.spool_backlog_segments})\n"
            f"and\n(deriv(conveyor_inference_log_spool_segments[{w}]) > 0)",
            t.log_backlog_for,
            "warning",
            "Inference-log spool of {{ $labels.instance }} keeps growing",
            "More than "
            f"{t.spool_backlog_segments} segments wait and the number rises: the ingester is "
            "behind or the store is down. Segments wait on disk; nothing is lost while the "
            "disk lasts.",
            "Check that the store (CONVEYOR_STORE_URL) accepts connections and read the "
            "ingester's log lines in the server log.",
        ),
        rule(
            "ConveyorInferenceLogSpoolAge",
            "max by (job, instance) (conveyor_inference_log_spool_oldest_seconds) > "
            f"{num(t.spool_age_seconds)}",
            t.spool_age_for,
            "warning",
            "Inference log of {{ $labels.instance }} is {{ humanizeDuration $value }} behind",
            "The oldest spooled inference-log segment waits for longer than "
            f"{num(t.spool_age_seconds)}s: the store does not take the log (down, read-only, "
            "or the ingester fails). Drift, online accuracy and rollout evidence miss that "
            "traffic until it does.",
            "GET /ready on the instance (store and inference_log), check that the store "
            "(CONVEYOR_STORE_URL) accepts writes, and read the ingester's log lines in the "
            "server log.",
        ),
        rule(
            "ConveyorInferenceLogSpoolNearlyFull",
            "max by (job, instance) (conveyor_inference_log_spool_bytes)\n/ on (job, instance)\n"
            "(max by (job, instance) (conveyor_inference_log_spool_max_bytes) > 0)\n"
            f"> {num(t.spool_full_share)}",
            t.spool_full_for,
            "critical",
            "Inference-log spool of {{ $labels.instance }} is {{ humanizePercentage $value }} full",
            "When the spool reaches CONVEYOR_INFERENCE_LOG_SPOOL_MAX_BYTES the instance answers "
            "predictions 503 (CONVEYOR_INFERENCE_LOG_WHEN_FULL=reject) or deletes the oldest "
            "records (drop_oldest).",
            "Bring the store back (see ConveyorInferenceLogSpoolAge); to buy time, raise "
            "CONVEYOR_INFERENCE_LOG_SPOOL_MAX_BYTES on a larger volume.",
        ),
        rule(
            "ConveyorInferenceLogIngesterDown",
            "min by (job, instance) (conveyor_inference_log_ingester_up) == 0",
            t.ingester_down_for,
            "critical",
            "Inference-log ingester of {{ $labels.instance }} is down",
            "The server restarts its ingester process within seconds of a crash; down this "
            "long, it keeps failing. Nothing moves from the spool to the store, and /ready "
            "answers 503.",
            "Read the ingester's last lines in the server log (its exit and why); the store "
            "must be reachable with CONVEYOR_STORE_URL from the instance.",
        ),
        rule(
            "ConveyorInferenceLogRefusing",
            f"rate(conveyor_inference_log_refused_total[{w}]) > 0",
            t.log_refusing_for,
            "critical",
            "{{ $labels.instance }} refuses predictions it cannot log",
            '{{ printf "%.3g" $value }} predictions/s answer 503: the inference-log spool is '
            "full or cannot be written, and CONVEYOR_INFERENCE_LOG_WHEN_FULL=reject.",
            "GET /ready on the instance names the problem. Free or enlarge the disk under "
            "CONVEYOR_HOME/spool and bring the store back; drop_oldest keeps answering "
            "instead, losing the oldest records.",
        ),
        rule(
            "ConveyorStoreUnavailable",
            "min by (job, instance) (conveyor_store_up) == 0",
            t.store_down_for,
            "warning",
            "{{ $labels.instance }} cannot reach the Conveyor store",
            "Predictions are still answered and their records wait in the spool, but "
            "feedback, live monitoring, alerts and rollouts need the store.",
            "Check the database behind CONVEYOR_STORE_URL (PostgreSQL: is it up, does the "
            "instance's network reach it?).",
        ),
    ]
