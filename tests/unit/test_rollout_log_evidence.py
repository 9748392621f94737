"""Evidence read from the inference log and feedback in the store (SQLite): each version's
calls in the window, errors, labels joined by request id and row, and pairs from mirrors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conveyor.errors import ServiceUnavailableError
from conveyor.rollout.analysis import analyse
from conveyor.rollout.log_evidence import InferenceLogEvidence
from conveyor.rollout.verdicts import Verdict
from conveyor.spec.models import AnalysisSpec
from conveyor.store import Store
from conveyor.store.tables import feedback, inference_log
from tests.unit.rollouts import a_rollout

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
UNTIL = T0 + timedelta(minutes=5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    yield opened
    opened.close()


ROLLOUT = a_rollout(weights={"production": 90.0, "candidate": 10.0}, at=T0)


def call(
    request_id: str,
    version: str,
    predictions: list[Any],
    *,
    seconds: float = 10,
    status: int = 200,
    latency: float = 12.5,
    model: str = "wine",
    arm: str = "production",
) -> dict[str, Any]:
    rows = len(predictions) or 1
    return {
        "request_id": request_id,
        "at": T0 + timedelta(seconds=seconds),
        "model": model,
        "version": version,
        "arm": arm,
        "rows": rows,
        "inputs": {"alcohol": [13.0 + i for i in range(rows)], "colour": ["red"] * rows},
        "outputs": {"predictions": predictions} if status == 200 else {},
        "latency_ms": latency,
        "status": status,
    }


def write(store: Store, calls: list[dict[str, Any]], labels: list[tuple[str, int, Any]]) -> None:
    with store.engine.begin() as conn:
        conn.execute(inference_log.insert(), calls)
        if labels:
            conn.execute(
                feedback.insert(),
                [{"request_id": r, "row": i, "at": UNTIL, "label": v} for r, i, v in labels],
            )


def test_each_version_gets_its_calls_errors_labels_and_inputs(store: Store) -> None:
    write(
        store,
        [
            call("a", "1", [0, 1]),  # two rows
            call("b", "1", [2]),
            call("c", "2", [1], latency=30),
            call("d", "2", [], status=500, latency=999),
            call("e", "2", [], status=422),  # a client error: counted, no prediction
            call("f", "1", [0], seconds=-1),  # before the window
            call("g", "1", [0], seconds=301),  # after it
            call("h", "9", [0]),  # another version
            call("i", "1", [0], model="iris"),  # another model
        ],
        [("a", 1, 1), ("a", 0, 2), ("c", 0, 0), ("f", 0, 0), ("zz", 0, 1)],
    )
    found = InferenceLogEvidence(store, "classification")(ROLLOUT, T0, UNTIL)
    champion, candidate = found.champion, found.candidate
    assert (champion.version, champion.requests, champion.errors) == ("1", 2, 0)
    assert sorted(champion.predictions) == [0, 1, 2]
    assert list(champion.latencies_ms) == [12.5, 12.5]
    assert sorted(zip(champion.labels, champion.labelled_predictions, strict=True)) == [
        (1, 1),
        (2, 0),
    ]
    assert sorted(champion.inputs["alcohol"]) == [13.0, 13.0, 14.0]
    assert (candidate.version, candidate.requests, candidate.errors) == ("2", 3, 1)
    assert sorted(candidate.latencies_ms) == [12.5, 30]  # the 5xx has no latency sample
    assert (list(candidate.labels), list(candidate.labelled_predictions)) == ([0], [1])
    assert found.pairs is None  # no request reached both versions


def test_mirrored_calls_pair_by_request_id_and_row(store: Store) -> None:
    write(
        store,
        [
            call("a", "1", [0, 1], arm="production"),
            call("a", "2", [0, 2], arm="candidate-mirror", latency=40),
            call("b", "1", [2]),
            call("b", "2", [2]),
            call("c", "1", [1]),  # the copy failed: no pair
            call("c", "2", [], status=503),
        ],
        [],
    )
    pairs = InferenceLogEvidence(store, "classification")(ROLLOUT, T0, UNTIL).pairs
    assert pairs is not None
    assert (list(pairs.champion), list(pairs.candidate)) == ([0, 1, 2], [0, 2, 2])


def test_only_the_most_recent_calls_are_read(store: Store) -> None:
    write(store, [call(f"r{i}", "1", [i % 3], seconds=i) for i in range(50)], [("r1", 0, 1)])
    found = InferenceLogEvidence(store, "classification", max_requests=10, inputs=False)(
        ROLLOUT, T0, UNTIL
    )
    assert found.champion.requests == 10
    assert found.champion.predictions == [i % 3 for i in range(49, 39, -1)]
    assert found.champion.labels == []  # r1 is older than the sample
    assert found.champion.inputs == {}


def test_logged_evidence_feeds_the_analysis(store: Store) -> None:
    calls = [call(f"p{i}", "1", [i % 3], latency=10 + i % 5) for i in range(300)]
    calls += [call(f"c{i}", "2", [i % 3], latency=10 + i % 5) for i in range(250)]
    calls += [call(f"x{i}", "2", [], status=500) for i in range(50)]
    write(store, calls, [])
    found = InferenceLogEvidence(store, "classification")(ROLLOUT, T0, UNTIL)
    checks = {c.name: c for c in analyse(found, AnalysisSpec())}
    assert checks["error_rate"].verdict is Verdict.FAIL  # 1 in 6 candidate calls failed
    assert checks["prediction_shift"].verdict is Verdict.PASS
    assert checks["input_drift"].verdict is Verdict.PASS


def test_calls_shed_under_load_fail_neither_arm(store: Store) -> None:
    """Blue-green's switch under a busy moment: the candidate answers live and the server
    sheds some of those calls (503, queue full) while the champion's mirrored copies succeed.
    Shedding is capacity, not the version: an equal candidate must not fail on it."""
    calls = [call(f"r{i}", "1", [i % 3], arm="production-mirror") for i in range(300)]
    calls += [call(f"r{i}", "2", [i % 3], arm="candidate") for i in range(300)]
    calls += [call(f"s{i}", "2", [], status=503, arm="candidate") for i in range(60)]
    write(store, calls, [])
    found = InferenceLogEvidence(store, "classification")(ROLLOUT, T0, UNTIL)
    assert (found.candidate.requests, found.candidate.errors, found.candidate.shed) == (300, 0, 60)
    checks = {c.name: c for c in analyse(found, AnalysisSpec())}
    assert checks["error_rate"].verdict is Verdict.PASS, checks["error_rate"]
    assert checks["error_rate"].numbers["candidate_shed"] == 60
    assert not [c for c in checks.values() if c.verdict is Verdict.FAIL], checks


def test_both_arms_are_read_over_the_same_span(store: Store) -> None:
    """The candidate began answering 150 s into the step (it was still loading) while the
    traffic changed at 100 s: compared over the whole step, the champion's early rows would
    read as the arms seeing different inputs, and a good candidate would fail input_drift."""
    early = [call(f"e{i}", "1", [i % 3], seconds=1 + i * 0.3) for i in range(300)]
    for row in early:
        row["inputs"] = {"alcohol": [11.0], "colour": ["red"]}  # the morning's traffic
    later = [call(f"p{i}", "1", [i % 3], seconds=150 + i * 0.3) for i in range(300)]
    candidate = [call(f"c{i}", "2", [i % 3], seconds=150 + i * 0.3) for i in range(300)]
    write(store, early + later + candidate, [])
    found = InferenceLogEvidence(store, "classification")(ROLLOUT, T0, UNTIL)
    assert (found.champion.requests, found.candidate.requests) == (300, 300)
    checks = {c.name: c for c in analyse(found, AnalysisSpec())}
    assert checks["input_drift"].verdict is Verdict.PASS, checks["input_drift"]


def test_a_mirrored_step_compares_the_inputs_both_arms_saw(store: Store) -> None:
    """Blue-green's switch step: the candidate answers and production gets copies. For a
    moment after the step began, servers still routed by the previous weights, so production
    also answered live requests (here 80 of them, from a traffic change): the arms' inputs
    are compared over the requests both saw, or a good candidate fails input_drift (the
    demo's rollback: alcalinity_of_ash PSI 0.588 at 62 vs 74 requests)."""
    live = [call(f"old{i}", "1", [i % 3], seconds=10 + i * 0.02) for i in range(80)]
    for row in live:
        row["inputs"] = {"alcohol": [9.0], "colour": ["blue"]}
    answered = [
        call(f"r{i}", "2", [i % 3], seconds=10 + i * 0.2, arm="candidate") for i in range(200)
    ]
    copies = [call(f"r{i}", "1", [i % 3], seconds=10.05 + i * 0.2) for i in range(200)]
    for i, (a, b) in enumerate(zip(answered, copies, strict=True)):
        a["inputs"] = b["inputs"] = {"alcohol": [12.0 + (i % 7) * 0.3], "colour": ["red"]}
    write(store, live + answered + copies, [])
    found = InferenceLogEvidence(store, "classification")(ROLLOUT, T0, UNTIL)
    assert found.pairs is not None and len(found.pairs.champion) == 200
    assert len(found.champion.inputs["alcohol"]) == len(found.candidate.inputs["alcohol"]) == 200
    checks = {c.name: c for c in analyse(found, AnalysisSpec())}
    assert checks["input_drift"].verdict is Verdict.PASS, checks["input_drift"]


def test_an_unreachable_store_is_a_clear_error(store: Store) -> None:
    working = store._engine
    store._engine = sa.create_engine("postgresql+psycopg://x@127.0.0.1:1/none")
    try:
        with pytest.raises(ServiceUnavailableError, match="read the evidence of 'wine'"):
            InferenceLogEvidence(store, "classification")(ROLLOUT, T0, UNTIL)
    finally:
        store._engine.dispose()
        store._engine = working
