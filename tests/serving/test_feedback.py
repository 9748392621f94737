"""`POST /feedback` in process (httpx over ASGI) on the real wine model, with the real
ingester process: labels join only real predictions, say item by item what became of them,
wait (bounded) for a prediction not yet logged, and batches are capped and rate-limited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conveyor.serving.app import create_app
from conveyor.store.tables import feedback, feedback_pending
from tests.serving.conftest import Registered, make_settings

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client(wine_registered: Registered, tmp_path: Path) -> Client:
    """An in-process wine server on a fresh SQLite store, with settings given per test."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(
            wine_registered.home,
            model_name="wine",
            store_url=f"sqlite:///{tmp_path / 'store.db'}",
            monitoring=False,
            rollout_controller=False,
            **overrides,
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as c,
        ):
            c.app = app  # type: ignore[attr-defined]
            yield c

    return make


def rows_in(c: httpx.AsyncClient, table: sa.Table) -> list[tuple[str, int, Any]]:
    store = c.app.state.conveyor.store  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        query = sa.select(table.c.request_id, table.c.row, table.c.label)
        return sorted(tuple(r) for r in conn.execute(query))


async def predict(c: httpx.AsyncClient, row: dict[str, float], n: int = 1, rid: str = "") -> str:
    headers = {"X-Request-ID": rid} if rid else {}
    r = await c.post("/predict", json={"instances": [row] * n}, headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["request_id"])


async def test_each_label_is_joined_held_or_rejected_and_the_answer_says_which(
    client: Client, wine_row: dict[str, float]
) -> None:
    async with client(feedback_pending_max=2) as c:
        rid = await predict(c, wine_row, n=2)
        r = await c.post(
            "/feedback",
            json={
                "feedback": [
                    {"request_id": rid, "label": 0},
                    {"request_id": rid, "row": 1, "label": 1},
                    {"request_id": rid, "row": 2, "label": 1},  # the request had 2 rows
                    {"request_id": "never-1", "label": 2},
                    {"request_id": "never-2", "label": 2},
                    {"request_id": "never-3", "label": 2},  # over the held-label cap
                ]
            },
        )
        assert r.status_code == 200, r.text
        answer = r.json()
        assert {k: answer[k] for k in ("accepted", "joined", "pending", "rejected")} == {
            "accepted": 4,
            "joined": 2,
            "pending": 2,
            "rejected": 2,
        }
        unmatched = answer["unmatched"]
        assert [(u["index"], u["request_id"], u["outcome"]) for u in unmatched] == [
            (2, rid, "rejected"),
            (3, "never-1", "pending"),
            (4, "never-2", "pending"),
            (5, "never-3", "rejected"),
        ]
        assert "out of range" in unmatched[0]["reason"] and "2 rows" in unmatched[0]["reason"]
        assert "2 labels already wait" in unmatched[3]["reason"]
        assert answer["unmatched_omitted"] == 0
        assert rows_in(c, feedback) == [(rid, 0, 0), (rid, 1, 1)]
        assert rows_in(c, feedback_pending) == [("never-1", 0, 2), ("never-2", 0, 2)]


async def test_a_flood_of_invented_ids_stores_at_most_the_held_cap(
    client: Client,
) -> None:
    async with client(feedback_pending_max=50, feedback_max_items=1000) as c:
        accepted = 0
        for batch in range(5):
            items = [{"request_id": f"bogus-{batch}-{i}", "label": 1} for i in range(1000)]
            r = await c.post("/feedback", json={"feedback": items})
            assert r.status_code == 200, r.text
            answer = r.json()
            accepted += answer["accepted"]
            assert answer["joined"] == 0
            assert len(answer["unmatched"]) == 100  # the list is bounded; the rest counted
            assert answer["unmatched_omitted"] == 900
        assert accepted == 50
        assert rows_in(c, feedback) == []
        assert len(rows_in(c, feedback_pending)) == 50


async def test_a_label_that_overtakes_its_prediction_joins_once_it_is_logged(
    client: Client, wine_row: dict[str, float]
) -> None:
    async with client() as c:
        r = await c.post("/feedback", json={"request_id": "order-7", "label": 2})
        assert r.json()["pending"] == 1, r.text
        await predict(c, wine_row, rid="order-7")  # logged after the label arrived
        deadline = time.monotonic() + 30  # the spool and the ingester process move it
        while rows_in(c, feedback) != [("order-7", 0, 2)]:
            assert time.monotonic() < deadline, rows_in(c, feedback_pending)
            await asyncio.sleep(0.1)
        assert rows_in(c, feedback_pending) == []


async def test_a_later_label_replaces_an_earlier_one_for_the_same_row(
    client: Client, wine_row: dict[str, float]
) -> None:
    async with client() as c:
        rid = await predict(c, wine_row)
        items = [{"request_id": rid, "label": 0}, {"request_id": rid, "label": 1}]
        r = await c.post("/feedback", json={"feedback": items})
        assert r.json()["joined"] == 2, r.text
        assert rows_in(c, feedback) == [(rid, 0, 1)]
        r = await c.post("/feedback", json={"request_id": rid, "label": 2})
        assert r.json()["joined"] == 1
        assert rows_in(c, feedback) == [(rid, 0, 2)]


async def test_a_batch_over_the_cap_is_refused_whole(
    client: Client, wine_row: dict[str, float]
) -> None:
    async with client(feedback_max_items=10) as c:
        rid = await predict(c, wine_row)
        r = await c.post("/feedback", json={"feedback": [{"request_id": rid, "label": 1}] * 11})
        assert r.status_code == 413
        (problem,) = r.json()["problems"]
        assert problem["loc"] == "feedback"
        assert "at most 10" in problem["msg"] and "CONVEYOR_FEEDBACK_MAX_ITEMS" in problem["msg"]
        assert rows_in(c, feedback) == []


async def test_labels_beyond_the_rate_get_429_with_retry_after(
    client: Client, wine_row: dict[str, float]
) -> None:
    async with client(feedback_rate=1, feedback_max_items=5) as c:
        rid = await predict(c, wine_row)
        items = [{"request_id": rid, "label": 1}] * 5
        assert (await c.post("/feedback", json={"feedback": items})).status_code == 200
        r = await c.post("/feedback", json={"feedback": items})
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["x-request-id"]
        assert "CONVEYOR_FEEDBACK_RATE" in r.json()["error"]


async def test_bad_items_are_named_and_their_number_bounded(client: Client) -> None:
    async with client() as c:
        items: list[Any] = [{"request_id": "", "label": 1}, {"request_id": "a", "row": -1}, 7]
        r = await c.post("/feedback", json={"feedback": items})
        assert r.status_code == 422
        locs = [p["loc"] for p in r.json()["problems"]]
        assert locs == [
            "feedback[0].request_id",
            "feedback[1].row",
            "feedback[1].label",
            "feedback[2]",
        ]
        r = await c.post("/feedback", json={"request_id": "a", "row": 2**31, "label": 1})
        assert r.status_code == 422 and r.json()["problems"][0]["loc"] == "row"
        r = await c.post("/feedback", json={"feedback": [{"label": "x"}] * 5000})
        assert r.status_code == 422
        assert len(r.json()["problems"]) == 50
