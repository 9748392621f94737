"""Rules on serving: p99 latency, server errors, request volume out of bounds, servers without
a model and stale online features."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.alert_thresholds import INFERENCE_ROUTES, AlertThresholds, num
from conveyor.deploy.prometheus_rules.rule import pct, rule


def serving_rules(t: AlertThresholds) -> list[dict[str, Any]]:
    """The ``conveyor-serving`` group's rules."""
    w = t.rate_window
    requests = f'rate(conveyor_requests_total{{route=~"{INFERENCE_ROUTES}"}}[{w}])'
    rules = [
        rule(
            "ConveyorHighLatencyP99",
            "histogram_quantile(\n  0.99,\n  sum by (model, le) (\n"
            f'    rate(conveyor_request_duration_seconds_bucket{{route=~"{INFERENCE_ROUTES}"}}'
            f"[{w}])\n  )\n) > {num(t.latency_p99_seconds)}",
            t.latency_for,
            "warning",
            "p99 latency of {{ $labels.model }} is {{ humanizeDuration $value }}",
            "The 99th percentile of inference request time is above "
            f"{num(t.latency_p99_seconds)}s.",
            "Look at rows per batch (conveyor_batch_rows), CPU saturation and 503s from load "
            "shedding; add replicas. If CONVEYOR_MAX_BATCH_WAIT_MS was raised, lower it.",
        ),
        rule(
            "ConveyorHighErrorRate",
            f'sum by (model) (rate(conveyor_requests_total{{status=~"5.."}}[{w}]))\n/\n'
            f"sum by (model) (rate(conveyor_requests_total[{w}]))\n> {num(t.error_rate)}",
            t.error_rate_for,
            "critical",
            "{{ $labels.model }} answers {{ humanizePercentage $value }} of requests with 5xx",
            f"More than {pct(t.error_rate)} of requests end in a server error. 4xx (bad "
            "input) do not count.",
            "A 500 is logged with its request id: search the server log. 503 with Retry-After "
            "is load shedding (CONVEYOR_MAX_QUEUE): add replicas.",
        ),
    ]
    if t.min_request_rate > 0:
        rules.append(
            rule(
                "ConveyorLowRequestVolume",
                f"(\n  sum by (model) ({requests})\n  or\n"
                "  max by (model) (conveyor_model_info) * 0\n"
                f") < {num(t.min_request_rate)}",
                t.volume_for,
                "warning",
                '{{ $labels.model }} gets {{ printf "%.3g" $value }} inference requests/s',
                f"Traffic is below {num(t.min_request_rate)} requests/s for a loaded model.",
                "Check the clients, the ingress or load balancer and DNS; a rollout may have "
                "moved the traffic elsewhere.",
            )
        )
    if t.max_request_rate > 0:
        rules.append(
            rule(
                "ConveyorHighRequestVolume",
                f"sum by (model) ({requests}) > {num(t.max_request_rate)}",
                t.volume_for,
                "warning",
                '{{ $labels.model }} gets {{ printf "%.4g" $value }} inference requests/s',
                f"Traffic is above {num(t.max_request_rate)} requests/s: a client retrying in "
                "a loop, a misrouted batch job or an attack, or real growth beyond what the "
                "replicas were sized for.",
                "Find the client in the access log (its request ids and addresses); rate-limit "
                "it at the ingress, or raise the HPA's maximum if the growth is real.",
            )
        )
    not_loaded = f'(up{{job="{t.job}"}} == 1) unless on (job, instance) conveyor_model_info'
    rules += [
        rule(
            "ConveyorModelNotLoaded",
            not_loaded,
            t.model_missing_for,
            "critical",
            "{{ $labels.instance }} serves no model",
            "The server answers scrapes but exports no conveyor_model_info: no version is "
            "loaded and predictions fail with 503.",
            "GET /ready on the instance and read its log for the load error. Does the alias "
            "exist (conveyor models show MODEL)? POST /admin/reload (with the admin token) "
            "retries.",
        ),
        rule(
            "ConveyorNoModelServed",
            "absent(conveyor_model_info)",
            t.model_missing_for,
            "critical",
            "No Conveyor server serves a model",
            "No scraped target exports conveyor_model_info: every server is down, "
            "unreachable or without a model.",
            f"Check the Prometheus targets page (job {t.job}), then the servers' deployment "
            "and logs.",
        ),
        rule(
            "ConveyorFeaturesStale",
            "max by (model, view) (conveyor_feature_age_seconds)\n>\n"
            "max by (model, view) (conveyor_feature_max_age_seconds)",
            t.features_stale_for,
            "warning",
            "Online features of {{ $labels.model }} ({{ $labels.view }}) are "
            "{{ humanizeDuration $value }} old",
            "The feature view was last materialized into the online store longer ago than "
            "data.feast.max_age_seconds: entity-key requests are answered with old values.",
            "Run `conveyor feast materialize -p PROJECT` (or `feast materialize-incremental`) "
            "and check the job that schedules it.",
        ),
    ]
    return rules
