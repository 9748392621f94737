"""Feedback in the store on SQLite and PostgreSQL (CONVEYOR_TEST_POSTGRES_URL): matching labels
to logged predictions, replacing labels, holding labels whose prediction is not logged yet
(bounded, expiring) and adopting them once it is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor.serving.feedback import FeedbackDesk, Label
from conveyor.serving.recent import RecentPredictions
from conveyor.store.engine import Store
from conveyor.store.feedback import adopt_pending, hold_labels, predicted_rows, save_labels
from conveyor.store.tables import feedback, feedback_pending, inference_log
from tests.integration.test_postgres import postgres_database

pytestmark = pytest.mark.integration

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}").create()
        try:
            yield s
        finally:
            s.close()
        return
    with postgres_database("conveyor_fb") as url:
        s = Store(url).create()
        try:
            yield s
        finally:
            s.close()


def log_prediction(store: Store, rid: str, rows: int, status: int = 200) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            inference_log.insert().values(
                request_id=rid,
                at=NOW,
                model="wine",
                version="1",
                arm="production",
                rows=rows,
                inputs={},
                outputs={"predictions": [0] * rows},
                latency_ms=1.0,
                status=status,
            )
        )


def table(store: Store, t: sa.Table) -> list[tuple[str, int, object]]:
    with store.engine.connect() as conn:
        query = sa.select(t.c.request_id, t.c.row, t.c.label).order_by(t.c.request_id, t.c.row)
        return [tuple(r) for r in conn.execute(query)]


def label(rid: str, row: int, value: object, at: datetime = NOW) -> dict[str, object]:
    return {"request_id": rid, "row": row, "at": at, "label": value}


def test_predicted_rows_counts_only_answered_requests(store: Store) -> None:
    log_prediction(store, "a", 3)
    log_prediction(store, "b", 1, status=500)  # a failed mirrored call
    ids = ["a", "b", "c"] + [f"x{i}" for i in range(1200)]  # more than one IN list
    with store.engine.connect() as conn:
        assert predicted_rows(conn, ids) == {"a": 3}


def test_a_newer_label_replaces_an_older_one_never_the_reverse(store: Store) -> None:
    with store.engine.begin() as conn:
        save_labels(conn, [label("a", 0, 1), label("a", 1, 1)])
        save_labels(conn, [label("a", 0, 2, NOW + timedelta(seconds=1))])
        save_labels(conn, [label("a", 1, 0, NOW - timedelta(seconds=1))])  # older: ignored
    assert table(store, feedback) == [("a", 0, 2), ("a", 1, 1)]


def test_held_labels_are_bounded_expire_and_are_adopted_once_logged(store: Store) -> None:
    hour_ago = NOW - timedelta(hours=1)
    with store.engine.begin() as conn:
        assert hold_labels(conn, [label("old", 0, 1, hour_ago)], 4, hour_ago) == 1
    fresh = [label("n0", 0, 0), label("n1", 0, 1), label("n2", 0, 2), label("n1", 3, 7)]
    with store.engine.begin() as conn:  # "old" has expired: four fit, the fifth does not
        taken = hold_labels(conn, [*fresh, label("n3", 0, 3)], 4, NOW - timedelta(minutes=10))
    assert taken == 4
    assert table(store, feedback_pending) == [
        ("n0", 0, 0),
        ("n1", 0, 1),
        ("n1", 3, 7),
        ("n2", 0, 2),
    ]
    log_prediction(store, "n1", 1)  # row 3 of n1 was never predicted
    log_prediction(store, "n2", 1)
    assert adopt_pending(store, NOW - timedelta(minutes=10)) == 2
    assert table(store, feedback) == [("n1", 0, 1), ("n2", 0, 2)]
    assert table(store, feedback_pending) == [("n0", 0, 0), ("n1", 3, 7)]
    assert adopt_pending(store, NOW + timedelta(seconds=1)) == 0  # both expire unmatched
    assert table(store, feedback_pending) == []


def test_an_adopted_label_never_overwrites_a_newer_joined_one(store: Store) -> None:
    with store.engine.begin() as conn:
        hold_labels(conn, [label("a", 0, 1)], 10, NOW - timedelta(minutes=10))
        save_labels(conn, [label("a", 0, 2, NOW + timedelta(seconds=5))])
    log_prediction(store, "a", 1)
    assert adopt_pending(store, NOW - timedelta(minutes=10)) == 1
    assert table(store, feedback) == [("a", 0, 2)]


def test_the_desk_joins_known_rows_holds_unknown_ids_and_rejects_the_rest(store: Store) -> None:
    log_prediction(store, "logged", 2)
    recent = RecentPredictions(10)
    recent.add("answered", 1)  # answered by this process, not in the store yet
    desk = FeedbackDesk(store, recent, max_items=100, rate=0, pending_max=1, pending_seconds=60)
    receipt = desk.store_labels(
        [
            Label(0, "logged", 1, "x"),
            Label(1, "answered", 0, "y"),
            Label(2, "logged", 2, "z"),
            Label(3, "new", 0, "w"),
            Label(4, "newer", 0, "v"),
        ]
    )
    assert (receipt.joined, receipt.pending, receipt.rejected) == (2, 1, 2)
    assert [(u["index"], u["outcome"]) for u in receipt.unmatched] == [
        (2, "rejected"),
        (3, "pending"),
        (4, "rejected"),
    ]
    assert table(store, feedback) == [("answered", 0, "y"), ("logged", 1, "x")]
    assert table(store, feedback_pending) == [("new", 0, "w")]
