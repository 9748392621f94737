"""The monitoring report from plain data: plots where there is something to show, words where
there is not, every data value escaped; and the per-step history read from a real store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import escape as html_escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.bundle.model import Bundle, ModelIdentity
from conveyor.data.profile import build_profile
from conveyor.data.schema import infer_schema
from conveyor.monitoring import WindowCounts, compare_window
from conveyor.monitoring.assess import Assessment, Health, Performance
from conveyor.monitoring.history import Alert, History, Step, firing_alerts, load_history
from conveyor.monitoring.live import Bucket
from conveyor.monitoring.report_html import render_report
from conveyor.spec.models import AlertSpec
from conveyor.store.engine import Store
from conveyor.store.tables import alerts, feedback, inference_log, monitor_buckets

NOW = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
NASTY = '<b>"x" & $y$</b>'  # markup, quotes, an ampersand and matplotlib mathtext


def frame(n: int, seed: int, shift: float = 0.0, colours: list[str] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1.0, n),
            "b": rng.exponential(2.0, n),
            NASTY: rng.normal(2 * shift, 1.0, n),
            "colour": rng.choice(colours or ["red", "green", "blue"], n),
        }
    )


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    train = frame(4000, 1)
    train["y"] = np.arange(len(train)) % 2
    features = [c for c in train if c != "y"]
    schema = infer_schema(train, features, "y", classification=True)
    predictions = np.random.default_rng(0).integers(0, 2, len(train))
    built = build_profile(train, schema, predictions, classification=True)
    return dict(json.loads(json.dumps(built)))  # as read back from profile.json


def window(profile: dict[str, Any], current: pd.DataFrame) -> WindowCounts:
    counts = WindowCounts.from_profile(profile)
    if len(current):
        predictions = np.random.default_rng(3).integers(0, 2, len(current))
        counts.update({c: current[c].to_numpy() for c in current}, predictions)
    return counts


def steps(requests: int, labeled: int = 0, count: int = 10) -> tuple[Step, ...]:
    start = NOW.replace(second=0) - timedelta(minutes=count - 1)
    return tuple(
        Step(
            start=start + timedelta(minutes=i),
            requests=requests,
            rows=requests,
            server_errors=i % 2,
            client_errors=1 if requests else 0,
            p50_ms=4.0 + i if requests else None,
            p99_ms=40.0 + i if requests else None,
            labeled=labeled,
            metric=0.9 - i / 100 if labeled else None,
        )
        for i in range(count)
    )


def render(
    profile: dict[str, Any],
    current: pd.DataFrame,
    requests: int = 100,
    labeled: int = 0,
    firing: tuple[Alert, ...] = (),
) -> str:
    counts = window(profile, current)
    drift = compare_window(profile, counts)
    history = History(
        start=NOW - timedelta(minutes=10),
        end=NOW,
        step_minutes=1,
        steps=steps(requests, labeled),
        metric="accuracy",
        baseline=0.92,
        window=counts,
    )
    total = history.requests
    assessment = Assessment(
        model="wine",
        version="3",
        at=NOW,
        window_minutes=10,
        drift=drift,
        health=Health(total, total / 10, 0.01, 0.005, 4.0, 30.0, 44.0)
        if total
        else Health(0, 0.0, None, None, None, None, None),
        performance=Performance(
            "classification", counts.rows, history.labeled, None, {"accuracy": 0.88}, {}
        ),
    )
    return render_report(
        assessment, history, profile, alerts=firing, limits=AlertSpec(), generated_at=NOW
    )


def plots(html: str) -> list[str]:
    return re.findall(r'<svg data-plot="([a-z]+)"', html)


def featured(html: str) -> list[str]:
    return re.findall(r'<figure class="plot" data-feature="([^"]*)"', html)


def test_drifted_features_get_distributions_and_others_do_not(profile: dict[str, Any]) -> None:
    html = render(profile, frame(1500, 2, shift=1.5), labeled=30)
    assert html.startswith("<!doctype html>") and "<script" not in html
    kinds = plots(html)
    assert kinds.count("psi") == 1
    for kind in ("requests", "latency", "errors", "performance", "coverage"):
        assert kinds.count(kind) == 1, kind
    # a and the nasty one moved; b and colour did not; the predictions are always drawn
    assert sorted(featured(html)) == sorted(["a", "prediction", _escaped(NASTY)])
    assert kinds.count("distribution") == 3
    assert 'badge drift">drift: drift' in html
    first_rows = re.findall(r'<tr class="(\w+)"><td class="name">', html)
    assert first_rows[:2] == ["drift", "drift"] and first_rows[-1] == "ok"  # drifted first


def _escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_every_data_value_is_escaped(profile: dict[str, Any]) -> None:
    nasty_alert = Alert("3", "drift</td><b>", "critical", "<img src=x>", NOW, 0.5, 0.3)
    html = render(profile, frame(1500, 2, shift=1.5), firing=(nasty_alert,))
    assert NASTY not in html and "<img" not in html and "</td><b>" not in html
    assert "&lt;b&gt;&quot;x&quot; &amp; $y$&lt;/b&gt;" in html  # table, caption, attribute
    assert "1 alert firing" in html and "&lt;img src=x&gt;" in html
    # in the plots, $ stays a dollar sign, not mathtext (which would drop the dollars)
    assert "$y$" in re.search(r'<svg data-plot="psi".*?</svg>', html, re.S).group(0)  # type: ignore[union-attr]
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids repeat across the inline plots"


def test_categorical_drift_shows_unseen(profile: dict[str, Any]) -> None:
    current = frame(1500, 2, colours=["red", "purple", "teal"])
    html = render(profile, current)
    assert "colour" in featured(html)
    figure = re.search(r'data-feature="colour">(.*?)</figure>', html, re.S).group(1)  # type: ignore[union-attr]
    assert ">unseen<" in figure and "categories the reference never saw" in figure


@pytest.mark.parametrize("rows", [0, 30])
def test_an_insufficient_window_reads_as_such(profile: dict[str, Any], rows: int) -> None:
    html = render(profile, frame(rows, 2, shift=3.0), requests=0)
    assert "Insufficient data to judge drift." in html
    assert f"The window holds {rows} rows; a verdict needs at least 100" in html
    assert "No traffic." in html
    assert plots(html) == []  # no plot of nothing
    assert 'badge insufficient_data">drift: insufficient data' in html
    assert "nan" not in html.lower().replace("nannies", "")


def test_traffic_without_feedback_says_so(profile: dict[str, Any]) -> None:
    html = render(profile, frame(1500, 2), labeled=0)
    kinds = plots(html)
    assert {"requests", "latency", "errors"} <= set(kinds)
    assert "performance" not in kinds and "coverage" not in kinds
    assert "No feedback yet." in html
    assert featured(html) == ["prediction"] and 'drift: ok"' not in html


def test_a_regression_model_plots_mae_and_numeric_predictions() -> None:
    train = frame(3000, 1)
    train["y"] = train["a"] * 2
    features = [c for c in train if c != "y"]
    schema = infer_schema(train, features, "y", classification=False)
    built = build_profile(train, schema, train["y"].to_numpy(), classification=False)
    profile = dict(json.loads(json.dumps(built)))
    counts = WindowCounts.from_profile(profile)
    current = frame(1500, 2)
    counts.update({c: current[c].to_numpy() for c in current}, current["a"].to_numpy() * 2 + 5)
    history = History(
        start=NOW - timedelta(minutes=10),
        end=NOW,
        step_minutes=1,
        steps=steps(150, labeled=20),
        metric="mae",
        baseline=0.1,
        window=counts,
    )
    assessment = Assessment(
        "houses",
        "7",
        NOW,
        10,
        compare_window(profile, counts),
        Health(1500, 150.0, 0.0, 0.0, 4.0, 9.0, 12.0),
        Performance("regression", 1500, 200, 0.13, {"mae": 0.4}, {"mae": 0.1}),
    )
    html = render_report(assessment, history, profile, limits=AlertSpec(), generated_at=NOW)
    assert featured(html) == ["prediction"]  # the model's output moved, no feature did
    prediction = re.search(r'data-feature="prediction">(.*?)</figure>', html, re.S).group(1)  # type: ignore[union-attr]
    assert 'data-plot="distribution"' in prediction and "quantile bins" in prediction
    assert "Online mean absolute error" in html and "ONLINE MAE" in html.upper()
    assert plots(html).count("performance") == 1


# -- history from a real store --------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    yield store
    store.close()


def bundle(profile: dict[str, Any], tmp_path: Path) -> Bundle:
    from conveyor.data.schema import Kind, Schema

    identity = ModelIdentity("wine", "3", "production", metrics={"accuracy": 0.9})
    schema = Schema([], "y", Kind.CATEGORICAL, classes=[0, 1])
    return Bundle(tmp_path, schema, None, [], identity, profile)


def test_history_merges_processes_per_step_and_joins_feedback(
    store: Store, profile: dict[str, Any], tmp_path: Path
) -> None:
    minute = NOW.replace(second=0)
    rows = []
    for process, (n, latency_ms) in {"p1": (100, 3.0), "p2": (50, 30.0)}.items():
        bucket = Bucket.empty(profile)
        current = frame(n, 5)
        bucket.window.update({c: current[c].to_numpy() for c in current}, np.ones(n, int))
        bucket.requests, bucket.server_errors = n, 5
        bucket.latency[2 if latency_ms < 5 else 5] = n  # (2.5, 5] and (25, 50] ms
        for at in (minute - timedelta(minutes=3), minute):
            rows.append(
                {
                    "model": "wine",
                    "version": "3",
                    "minute": at,
                    "process": process,
                    "counts": bucket.to_state(),
                }
            )
    old = dict(rows[0], minute=minute - timedelta(hours=3))  # outside the window
    logged = [
        {
            "request_id": f"r{i}",
            "at": minute - timedelta(minutes=3) + timedelta(seconds=5),
            "model": "wine",
            "version": "3",
            "rows": 2,
            "inputs": {},
            "outputs": {"predictions": [1, 0]},
            "latency_ms": 3.0,
            "status": 200,
        }
        for i in range(4)
    ]
    labels = [{"request_id": f"r{i}", "row": i % 2, "at": NOW, "label": 1} for i in range(4)]
    with store.engine.begin() as conn:
        conn.execute(monitor_buckets.insert(), [*rows, old])
        conn.execute(inference_log.insert(), logged)
        conn.execute(feedback.insert(), labels)

    history = load_history(store, bundle(profile, tmp_path), 10, NOW)
    assert history.step_minutes == 1 and len(history.steps) == 11
    assert history.requests == 300 and history.window.rows == 300
    busy = [s for s in history.steps if s.requests]
    assert [s.start for s in busy] == [minute - timedelta(minutes=3), minute]
    assert all(s.requests == 150 and s.server_errors == 10 for s in busy)
    assert busy[0].p50_ms is not None and busy[0].p50_ms < 5 < busy[0].p99_ms  # type: ignore[operator]
    assert busy[0].labeled == 4 and busy[0].metric == 0.5  # rows 0 and 1 predict 1 and 0
    assert busy[0].coverage == pytest.approx(4 / 150) and busy[1].labeled == 0
    assert history.baseline == 0.9 and history.metric == "accuracy"


def test_long_windows_get_wider_steps(
    store: Store, profile: dict[str, Any], tmp_path: Path
) -> None:
    history = load_history(store, bundle(profile, tmp_path), 7 * 24 * 60, NOW)
    assert len(history.steps) <= 180 and history.step_minutes == 57
    assert history.requests == 0 and all(s.metric is None for s in history.steps)


def test_firing_alerts_of_the_model(store: Store) -> None:
    def alert(model: str, rule: str, state: str) -> dict[str, Any]:
        return {
            "model": model,
            "version": "3",
            "rule": rule,
            "severity": "critical",
            "state": state,
            "message": f"{rule} is off",
            "details": {},
            "started_at": NOW,
            "updated_at": NOW,
        }

    assert firing_alerts(store, "wine") == []
    with store.engine.begin() as conn:
        conn.execute(
            alerts.insert(),
            [
                alert("wine", "prediction_drift", "firing"),
                alert("wine", "latency", "resolved"),
                alert("iris", "error_rate", "firing"),
            ],
        )
    firing = firing_alerts(store, "wine")
    assert [(a.rule, a.started_at) for a in firing] == [("prediction_drift", NOW)]


def test_each_verdict_names_its_window(profile: dict[str, Any]) -> None:
    """A 10-minute report next to alerts that judge 60 minutes: both windows are named."""
    counts = window(profile, frame(500, 2))
    history = History(NOW - timedelta(minutes=10), NOW, 1, steps(100), "accuracy", 0.92, counts)
    assessment = Assessment(
        model="wine",
        version="3",
        at=NOW,
        window_minutes=10,
        drift=compare_window(profile, counts),
        health=Health(1000, 100.0, 0.01, 0.005, 4.0, 30.0, 44.0),
        performance=Performance("classification", counts.rows, 0, None, {}, {}),
    )
    html = render_report(assessment, history, profile, generated_at=NOW, alert_minutes=60)
    assert "(last 10 min)</span>" in html
    assert "no alerts firing (alerts judge the last 60 min)" in html


def test_the_time_axis_starts_at_the_first_request() -> None:
    """A version that served the last 10 minutes of a 60-minute window is drawn over those
    10 minutes, not squeezed against the right edge; the heading says when traffic began."""
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    from conveyor.monitoring.plots import _time_axis

    every = steps(100, count=60)
    quiet, busy = [replace(s, requests=0) for s in every[:50]], every[50:]
    history = History(
        NOW - timedelta(minutes=60), NOW, 1, (*quiet, *busy), "accuracy", None, WindowCounts({})
    )
    ax = Figure().subplots()
    _time_axis(ax, history)
    assert ax.get_xlim()[0] == pytest.approx(float(date2num(busy[0].start)))


def test_the_drift_table_shows_every_informing_statistic(profile: dict[str, Any]) -> None:
    """Hellinger, measured beside the verdict's statistics, is a column of the drift table
    with each feature's value."""
    current = frame(1500, 2, shift=1.5)
    drift = compare_window(profile, window(profile, current))
    html = render(profile, current)
    table = html[html.index('<table class="drift">') :]
    table = table[: table.index("</table>")]
    heads = re.findall(r"<th>([^<]*)</th>", table)
    assert heads.index("hellinger") == heads.index("distance") + 1
    for feature in drift.features:
        row = table[table.index(f'<td class="name">{html_escape(feature.name)}') :]
        row = row.split("</tr>", 1)[0]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[heads.index("hellinger")] == f"{feature.evidence['hellinger']:.3f}"
