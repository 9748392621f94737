"""Monitoring in the server, in process on the registered wine model: live counts, the watcher's
gauges and alerts, feedback turned into online accuracy, signed alert webhooks, and the
`conveyor monitor` / `conveyor alerts` commands reading what the server recorded."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_wine

from conveyor.monitoring.alerts import AlertBook
from conveyor.monitoring.watch import Watcher
from conveyor.notify import verify
from conveyor.serving.metrics import ServerMetrics
from conveyor.spec.models import MonitoringSpec
from tests.conftest import WebhookReceiver
from tests.serving.conftest import BIN, Registered

ROWS = 240


def wine_rows(n: int, seed: int, shifted: bool = False) -> list[dict[str, float]]:
    """Rows resampled from the wine data; ``shifted``: alcohol +3 and proline doubled."""
    data = load_wine(as_frame=True).frame.drop(columns="target")
    rng = np.random.default_rng(seed)
    sample = data.iloc[rng.integers(0, len(data), n)].reset_index(drop=True)
    if shifted:
        sample["alcohol"] += 3.0
        sample["proline"] *= 2.0
    return [{k: float(v) for k, v in row.items()} for row in sample.to_dict("records")]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def gauge(metrics: dict[Any, float], name: str, **labels: str) -> float | None:
    return metrics.get((name, frozenset({"model": "wine", "version": "1", **labels}.items())))


async def send(client: httpx.AsyncClient, rows: list[dict[str, float]]) -> list[dict[str, Any]]:
    answers = []
    for row in rows:  # one request per row, as single-row clients send them
        r = await client.post("/predict", json={"instances": [row]})
        assert r.status_code == 200, r.text
        answers.append(r.json())
    return answers


def cli(reg: Registered, store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = reg.env() | {"CONVEYOR_STORE_URL": store_url}
    return subprocess.run(
        [str(BIN / "conveyor"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_shifted_traffic_and_wrong_labels_raise_alerts(
    wine_client: httpx.AsyncClient,
    wine_registered: Registered,
    webhook_receiver: WebhookReceiver,
) -> None:
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    answers = await send(wine_client, wine_rows(ROWS, 1, shifted=True))
    bad = await wine_client.post("/predict", json={"instances": [{"alcohol": "x"}]})
    assert bad.status_code == 422
    # ground truth arrives later, and the model was wrong on every row
    feedback = [
        {"request_id": a["request_id"], "label": (a["predictions"][0] + 1) % 3} for a in answers
    ]
    r = await wine_client.post("/feedback", json={"feedback": feedback})
    assert r.status_code == 200, r.text
    state.log_writer.stop()  # the inference log is in the store before the watcher joins it

    # a second server process with a webhook sees the same store rows: it reports the alerts
    bundle = state.manager.current().bundle
    hooked = replace(bundle, monitoring=MonitoringSpec(webhooks=[webhook_receiver.url]))
    other = Watcher(
        state.store,
        ServerMetrics(),
        lambda: [hooked],
        webhook_secret="hmac-key",
        webhook_policy=webhook_receiver.policy,
    )
    state.watcher.live.flush()
    (assessment,) = other.round()
    assert assessment.health.requests == ROWS + 1
    assert assessment.health.client_error_rate == pytest.approx(1 / (ROWS + 1))
    assert assessment.performance.labeled_rows == ROWS
    assert assessment.performance.online["accuracy"] == 0.0
    assert assessment.performance.online["precision_macro"] == 0.0  # beside accuracy and F1
    assert assessment.performance.online["recall_macro"] == 0.0
    assert {"alcohol", "proline"} <= set(assessment.drift.drifted)
    events = {
        json.loads(body)["alert"]["rule"]: headers for headers, body in webhook_receiver.received
    }
    assert {"data_drift", "accuracy_below_baseline"} <= set(events)
    assert all(verify("hmac-key", h, b) for h, b in webhook_receiver.received)

    # this process's own round finds them open: nothing new to report, gauges set
    before = len(webhook_receiver.received)
    state.watcher.round()
    assert len(webhook_receiver.received) == before
    metrics = samples((await wine_client.get("/metrics")).text)
    assert gauge(metrics, "conveyor_drift_detected") == 1.0
    assert gauge(metrics, "conveyor_feature_drifted", feature="alcohol") == 1.0
    assert gauge(metrics, "conveyor_feature_drifted", feature="ash") == 0.0
    score = gauge(metrics, "conveyor_feature_drift_score", feature="alcohol")
    assert score is not None and score > 0.3
    p_value = gauge(metrics, "conveyor_feature_drift_p_value", feature="alcohol")
    assert p_value is not None and p_value < 0.05
    assert gauge(metrics, "conveyor_online_metric", metric="accuracy") == 0.0
    assert gauge(metrics, "conveyor_online_metric", metric="recall_macro") == 0.0
    baseline = gauge(metrics, "conveyor_baseline_metric", metric="accuracy")
    assert baseline is not None and baseline > 0.8
    precision = gauge(metrics, "conveyor_baseline_metric", metric="precision_macro")
    assert precision is not None and precision > 0.8  # the holdout's, to compare with
    assert gauge(metrics, "conveyor_label_coverage") == 1.0
    assert gauge(metrics, "conveyor_monitor_window_rows") == ROWS
    assert gauge(metrics, "conveyor_alerts_firing", rule="data_drift") == 1.0
    assert gauge(metrics, "conveyor_alerts_firing", rule="latency_p99") == 0.0

    store_url = state.settings.store_url
    monitor = cli(wine_registered, store_url, "monitor", "wine", "--json")
    assert monitor.returncode == 4, monitor.stderr  # a rule fires
    report = json.loads(monitor.stdout)
    assert report["version"] == "1" and report["health"]["requests"] == ROWS + 1
    assert {"alcohol", "proline"} <= set(report["drift"]["drifted"])
    firing = {c["rule"] for c in report["checks"] if c["firing"]}
    assert {"data_drift", "accuracy_below_baseline"} <= firing
    table = cli(wine_registered, store_url, "monitor", "wine", "--window", "2h")
    assert table.returncode == 4 and "alcohol" in table.stdout and "firing" in table.stdout
    listed = cli(wine_registered, store_url, "alerts", "list", "--model", "wine", "--json")
    assert listed.returncode == 0, listed.stderr
    rules = {a["rule"] for a in json.loads(listed.stdout)["alerts"]}
    assert rules == {a["rule"] for a in AlertBook(state.store).list("wine")}
    assert {"data_drift", "accuracy_below_baseline"} <= rules


async def test_healthy_traffic_raises_nothing(
    wine_client: httpx.AsyncClient, wine_registered: Registered
) -> None:
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    await send(wine_client, wine_rows(ROWS, 2))
    (assessment,) = state.watcher.round()
    assert assessment.drift.status.value == "ok", assessment.drift.drifted
    assert assessment.health.requests == ROWS and assessment.health.error_rate == 0
    assert assessment.performance.labeled_rows == 0
    assert AlertBook(state.store).list("wine") == []
    metrics = samples((await wine_client.get("/metrics")).text)
    assert gauge(metrics, "conveyor_drift_detected") == 0.0
    assert gauge(metrics, "conveyor_online_metric", metric="accuracy") is None  # no labels yet
    last = cli(wine_registered, state.settings.store_url, "monitor", "wine", "--last", "50")
    assert last.returncode == 0, last.stderr + last.stdout
    assert "no drift" in last.stdout
    none = cli(wine_registered, state.settings.store_url, "alerts", "list")
    assert none.returncode == 0 and "no alerts firing" in none.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["monitor", "wine", "--window", "soon"], "not a duration"),
        (["monitor", "wine", "--window", "1h", "--last", "5"], "not both"),
        (["monitor", "nope"], "nope"),
        (["monitor", "wine", "--version", "99"], "99"),
    ],
)
def test_monitor_bad_input(
    wine_registered: Registered, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = cli(wine_registered, f"sqlite:///{tmp_path / 's.db'}", *args)
    assert proc.returncode in (1, 2), proc.stdout
    assert message in proc.stderr and "Traceback" not in proc.stderr
