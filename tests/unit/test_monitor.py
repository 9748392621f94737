"""The live monitor (per-minute buckets in a real SQLite store), alert rules, the alert book
and signed webhooks (to a real local HTTP receiver)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.data.profile import build_profile
from conveyor.data.schema import infer_schema
from conveyor.monitoring.alerts import AlertBook, Check, evaluate
from conveyor.monitoring.assess import Assessment, Health, Performance
from conveyor.monitoring.drift import compare_window
from conveyor.monitoring.live import LATENCY_BOUNDS_MS, Bucket, LiveMonitor, load_window
from conveyor.monitoring.window import WindowCounts
from conveyor.notify import SIGNATURE_HEADER, post_event, sign, verify
from conveyor.spec.models import MonitoringSpec
from conveyor.store.engine import Store
from tests.conftest import WebhookReceiver


def frame(n: int, seed: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(shift, 1.0, n),
        "b": rng.exponential(2.0, n),
        "colour": rng.choice(np.array(["red", "green", "blue"]), n, p=[0.5, 0.3, 0.2]),
    }


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    reference = frame(5000, 1)
    df = pd.DataFrame(reference)
    df["y"] = np.arange(len(df)) % 2
    schema = infer_schema(df, list(reference), "y", classification=True)
    predictions = np.random.default_rng(0).integers(0, 2, len(df))
    return dict(json.loads(json.dumps(build_profile(df, schema, predictions, True))))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}").create()
    yield store
    store.close()


def observe_rows(
    monitor: LiveMonitor,
    profile: dict[str, Any],
    rows: dict[str, np.ndarray],
    latency_ms: float = 2.0,
    version: str = "1",
) -> None:
    n = len(rows["a"])
    for i in range(n):  # one request per row, as the server sees single-row traffic
        columns = {k: v[i : i + 1] for k, v in rows.items()}
        monitor.observe("m", version, profile, columns, np.array([i % 2]), latency_ms, 200)


# -- live buckets -----------------------------------------------------------------------


def test_buckets_of_two_processes_merge_into_one_window(
    store: Store, profile: dict[str, Any]
) -> None:
    rows = frame(600, 2, shift=2.0)
    first, second = LiveMonitor(store), LiveMonitor(store)
    observe_rows(first, profile, {k: v[:400] for k, v in rows.items()})
    observe_rows(second, profile, {k: v[400:] for k, v in rows.items()}, latency_ms=40.0)
    for _ in range(30):
        second.observe("m", "1", profile, None, None, 3.0, 503)  # failed before the model ran
    second.observe("m", "1", profile, None, None, 3.0, 422)
    first.flush()
    second.flush()
    observe_rows(first, profile, {k: v[:10] for k, v in frame(10, 3).items()})
    first.flush()  # the same minute again: the process's row is updated, not duplicated
    bucket, merged = load_window(store, "m", "1", profile, minutes=5)
    assert merged == 2
    assert bucket.window.rows == 610 and bucket.requests == 641
    assert (bucket.client_errors, bucket.server_errors) == (1, 30)
    assert sum(bucket.latency) == 641
    # 410 requests at 2 ms, 31 at 3 ms, 200 at 40 ms: p50 in (1, 2.5], p99 in (25, 50]
    p50, p99 = bucket.latency_quantile(0.5), bucket.latency_quantile(0.99)
    assert p50 is not None and 1.0 < p50 <= 2.5
    assert p99 is not None and 25.0 < p99 <= 50.0
    report = compare_window(profile, bucket.window)
    assert report.drifted == ["a"]  # shifted by two standard deviations; b and colour are not
    assert load_window(store, "m", "2", profile, minutes=5)[1] == 0
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert load_window(store, "m", "1", profile, minutes=5, now=later)[1] == 0


def test_bucket_state_round_trips(profile: dict[str, Any]) -> None:
    bucket = Bucket.empty(profile)
    bucket.window.update(frame(50, 4), np.zeros(50, dtype=int))
    bucket.requests, bucket.server_errors = 50, 2
    bucket.latency[3] = 50
    state = json.loads(json.dumps(bucket.to_state()))
    again = Bucket.from_state(profile, state)
    assert again.to_state() == bucket.to_state()
    state["features"]["a"]["counts"] = [1, 2]
    with pytest.raises(ValueError, match="profile"):
        Bucket.from_state(profile, state)


def test_latency_quantile_edges(profile: dict[str, Any]) -> None:
    bucket = Bucket.empty(profile)
    assert bucket.latency_quantile(0.99) is None
    bucket.latency[-1] = 5  # all slower than the last bound
    assert bucket.latency_quantile(0.5) == LATENCY_BOUNDS_MS[-1]


def test_a_full_buffer_drops_and_counts(store: Store, profile: dict[str, Any]) -> None:
    monitor = LiveMonitor(store, capacity=3)
    for _ in range(5):
        monitor.observe("m", "1", profile, None, None, 1.0, 200)
    assert monitor.dropped == 2
    monitor.flush()
    assert load_window(store, "m", "1", profile, 5)[0].requests == 3


# -- alert rules ------------------------------------------------------------------------


def assessment(
    profile: dict[str, Any],
    rows: dict[str, np.ndarray] | None = None,
    predictions: np.ndarray | None = None,
    health: Health | None = None,
    performance: Performance | None = None,
) -> Assessment:
    window = WindowCounts.from_profile(profile)
    if rows is not None:
        window.update(rows, predictions)
    return Assessment(
        "m",
        "1",
        datetime.now(UTC),
        60,
        compare_window(profile, window),
        health or Health(0, 0.0, None, None, None, None, None),
        performance or Performance("classification", 0, 0, None),
    )


def by_rule(checks: list[Check]) -> dict[str, Check]:
    return {c.rule: c for c in checks}


def test_rules_stay_undecided_on_an_empty_window(profile: dict[str, Any]) -> None:
    checks = by_rule(evaluate(assessment(profile), MonitoringSpec()))
    assert set(checks) == {
        "data_drift",
        "prediction_drift",
        "accuracy_below_baseline",
        "latency_p99",
        "error_rate",
        "request_volume_high",
    }
    # no rows is no evidence of drift, accuracy or latency; it is evidence of low traffic
    assert checks.pop("request_volume_high").firing is False
    assert all(c.firing is None for c in checks.values()), checks


def test_drift_rules(profile: dict[str, Any]) -> None:
    healthy = by_rule(
        evaluate(assessment(profile, frame(800, 5), np.arange(800) % 2), MonitoringSpec())
    )
    assert healthy["data_drift"].firing is False
    assert healthy["prediction_drift"].firing is False
    shifted = by_rule(
        evaluate(
            assessment(profile, frame(800, 5, shift=2.0), np.ones(800, dtype=int)),
            MonitoringSpec(),
        )
    )
    assert shifted["data_drift"].firing is True
    assert list(shifted["data_drift"].details["drifted"]) == ["a"]
    assert "a (PSI" in shifted["data_drift"].message
    assert shifted["prediction_drift"].firing is True
    assert shifted["prediction_drift"].value is not None and shifted["prediction_drift"].value > 0.3


def test_accuracy_rule_needs_coverage_and_labels(profile: dict[str, Any]) -> None:
    def check(online: float, labeled: int, predicted: int = 1000) -> Check:
        perf = Performance(
            "classification",
            predicted,
            labeled,
            labeled / predicted,
            {"accuracy": online},
            {"accuracy": 0.9},
        )
        return by_rule(evaluate(assessment(profile, performance=perf), MonitoringSpec()))[
            "accuracy_below_baseline"
        ]

    assert check(0.80, 500).firing is True
    assert check(0.80, 500).threshold == pytest.approx(0.85)
    assert check(0.86, 500).firing is False
    assert check(0.50, 50).firing is None  # 5 % coverage, under the 10 % default
    assert check(0.50, 20, predicted=100).firing is None  # 20 % coverage but 20 labels
    regression = Performance("regression", 1000, 500, 0.5, {"rmse": 1.2}, {"rmse": 1.0})
    rmse = by_rule(evaluate(assessment(profile, performance=regression), MonitoringSpec()))
    assert rmse["accuracy_below_baseline"].firing is True  # RMSE grew by 20 % > 5 %


def test_accuracy_floor(profile: dict[str, Any]) -> None:
    """An absolute floor beside the drop: a version weak from the start (its baseline 0.68)
    never drops below its own baseline, but it is below a 0.7 floor."""

    def floor(online: float, labeled: int, spec: MonitoringSpec) -> Check | None:
        perf = Performance(
            "classification", 1000, labeled, labeled / 1000, {"accuracy": online},
            {"accuracy": 0.68},
        )  # fmt: skip
        return by_rule(evaluate(assessment(profile, performance=perf), spec)).get(
            "accuracy_below_floor"
        )

    spec = MonitoringSpec.model_validate({"alerts": {"min_accuracy": 0.7}})
    weak = floor(0.66, 500, spec)
    assert weak is not None and weak.firing is True and weak.severity == "critical"
    assert weak.message == "online accuracy 0.660 over 500 labels (alert below 0.7)"
    assert weak.details["runbook_url"].endswith("#online-accuracy-below-the-floor")
    perf = Performance("classification", 1000, 500, 0.5, {"accuracy": 0.66}, {"accuracy": 0.68})
    relative = by_rule(evaluate(assessment(profile, performance=perf), spec))
    assert relative["accuracy_below_baseline"].firing is False  # within 0.05 of its baseline
    fine = floor(0.75, 500, spec)
    assert fine is not None and fine.firing is False
    few = floor(0.5, 50, spec)
    assert few is not None and few.firing is None  # 5 % coverage: undecided
    assert floor(0.5, 500, MonitoringSpec()) is None  # no floor set: no rule


def test_health_rules(profile: dict[str, Any]) -> None:
    spec = MonitoringSpec.model_validate({"alerts": {"min_requests_per_minute": 5}})
    slow = Health(600, 10.0, 0.0, 0.05, 2.0, 80.0, 180.0)
    checks = by_rule(evaluate(assessment(profile, health=slow), spec))
    assert checks["latency_p99"].firing is True and checks["error_rate"].firing is True
    assert checks["request_volume"].firing is False
    quiet = Health(10, 1 / 6, 0.0, 0.5, 2.0, 80.0, 180.0)
    checks = by_rule(evaluate(assessment(profile, health=quiet), spec))
    assert checks["latency_p99"].firing is None and checks["error_rate"].firing is None
    assert checks["request_volume"].firing is True
    assert "request_volume" not in by_rule(
        evaluate(assessment(profile, health=quiet), MonitoringSpec())
    )
    assert checks["request_volume_high"].firing is False


def test_request_ceiling(profile: dict[str, Any]) -> None:
    flood = Health(720_000, 720_000.0, 0.0, 0.05, 2.0, 8.0, 18.0)  # 12,000 requests/s
    ceiling = by_rule(evaluate(assessment(profile, health=flood), MonitoringSpec()))
    assert ceiling["request_volume_high"].firing is True
    assert ceiling["request_volume_high"].value == 12_000
    assert "above 10000" in ceiling["request_volume_high"].message
    raised = MonitoringSpec.model_validate({"alerts": {"max_requests_per_second": 20_000}})
    assert (
        by_rule(evaluate(assessment(profile, health=flood), raised))["request_volume_high"].firing
        is False
    )
    off = MonitoringSpec.model_validate({"alerts": {"max_requests_per_second": 0}})
    assert "request_volume_high" not in by_rule(evaluate(assessment(profile, health=flood), off))


# -- the alert book ---------------------------------------------------------------------


def check(rule: str, firing: bool | None, value: float = 1.0) -> Check:
    return Check(rule, "warning", firing, value, 0.5, f"{rule} {value}")


def test_alerts_open_refresh_and_resolve_once(store: Store) -> None:
    book = AlertBook(store)
    fired = book.apply("m", "1", [check("data_drift", True), check("latency_p99", False)])
    assert [(t.event, t.alert["rule"]) for t in fired] == [("alert.firing", "data_drift")]
    # a second worker judging the same window changes nothing and reports nothing
    assert book.apply("m", "1", [check("data_drift", True, 2.0)]) == []
    (alert,) = book.list("m")
    assert alert["value"] == 2.0 and alert["state"] == "firing" and alert["version"] == "1"
    assert book.apply("m", "1", [check("data_drift", None)]) == []  # undecided: unchanged
    assert len(book.list("m")) == 1
    resolved = book.apply("m", "1", [check("data_drift", False, 0.0)])
    assert [(t.event, t.alert["state"]) for t in resolved] == [("alert.resolved", "resolved")]
    assert resolved[0].alert["resolved_at"] is not None
    assert book.list("m") == []
    assert [a["state"] for a in book.list("m", state=None)] == ["resolved"]
    again = book.apply("m", "1", [check("data_drift", True)])
    assert len(again) == 1 and again[0].alert["id"] != alert["id"]  # a new episode
    assert book.list("other") == []


# -- signed webhooks --------------------------------------------------------------------


def test_webhooks_are_signed_and_verifiable(webhook_receiver: WebhookReceiver) -> None:
    url = webhook_receiver.url
    delivered = post_event(
        [url], "alert.firing", {"alert": {"rule": "x"}}, "key", policy=webhook_receiver.policy
    )
    assert delivered == [url]
    ((headers, body),) = webhook_receiver.received
    assert json.loads(body) == {"event": "alert.firing", "alert": {"rule": "x"}}
    assert headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify("key", headers, body)
    assert not verify("other-key", headers, body)
    assert not verify("key", headers, body + b" ")
    stale = {**headers, "X-Conveyor-Timestamp": "1000"}
    stale[SIGNATURE_HEADER] = sign("key", "1000", body)
    assert not verify("key", stale, body)  # a replay long after


def test_failing_webhooks_are_skipped(
    webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    webhook_receiver.status = 500
    dead = "http://127.0.0.1:9/hook?token=secret-token"
    hooks = [dead, webhook_receiver.url]
    assert post_event(hooks, "alert.resolved", {}, None, policy=webhook_receiver.policy) == []
    assert len(webhook_receiver.received) == 1
    assert SIGNATURE_HEADER not in webhook_receiver.received[0][0]  # no secret, no signature
    assert "secret-token" not in caplog.text and "127.0.0.1:9" in caplog.text


def test_monitoring_spec_rejects_bad_webhooks() -> None:
    with pytest.raises(ValueError, match="http"):
        MonitoringSpec(webhooks=["ftp://x"])
    with pytest.raises(ValueError, match="psi_warn"):
        MonitoringSpec.model_validate({"drift": {"psi_warn": 0.5, "psi_alert": 0.3}})


def test_live_binning_equals_the_sorted_binning() -> None:
    """The live counters bin without sorting; they must count exactly as ``bin_sorted``,
    values on the edges and beyond the range included."""
    from conveyor.monitoring.samples import bin_sorted
    from conveyor.monitoring.window import CategoryCounter, NumericCounter

    rng = np.random.default_rng(7)
    edges = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    values = np.concatenate([rng.normal(0, 1, 5000), edges, [np.nan, np.inf, -np.inf]])
    counter = NumericCounter(edges, np.zeros(edges.size + 1, dtype=np.int64))
    counter.add(values[:3000])
    counter.add(values[3000:])
    counts, below, above = bin_sorted(np.sort(values[np.isfinite(values)]), edges)
    assert counter.counts.tolist() == counts.tolist()
    assert counter.below_excess == pytest.approx(below) and counter.above_excess == pytest.approx(
        above
    )
    assert (counter.rows, counter.missing) == (values.size, 3)
    classes = CategoryCounter(np.array(["0", "1", "2"]), np.zeros(3, dtype=np.int64))
    classes.add(np.array([2, 0, 0, 7, 1, 0]))  # integer class ids, one never seen
    assert (classes.counts.tolist(), classes.unseen) == ([3, 1, 1], 1)
    flags = CategoryCounter(np.array(["False", "True"]), np.zeros(2, dtype=np.int64))
    flags.add(np.array([True, True, False]))
    assert flags.counts.tolist() == [1, 2]


def test_online_classification_metrics_include_precision_and_recall() -> None:
    from conveyor.monitoring.assess import _metrics

    found = _metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], classification=True)
    assert found["accuracy"] == 0.75
    assert found["precision_macro"] == pytest.approx((1 + 2 / 3) / 2)
    assert found["recall_macro"] == pytest.approx((0.5 + 1) / 2)
    assert found["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)
