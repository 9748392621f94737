"""What the inference log promises, on a real server: with synchronous spooling a kill -9
loses no answered prediction; a full spool either refuses predictions or drops the oldest
records, counted; a store down at start does not stop serving; large requests are logged by
their first rows."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import sqlalchemy as sa

from conveyor.serving.app import create_app
from conveyor.store.tables import inference_log
from tests.integration.test_postgres import postgres_database
from tests.serving.conftest import Registered, make_settings
from tests.serving.faults import (
    TcpProxy,
    immutable,
    ingester_pids,
    metric,
    postgres_host_port,
    process_gone,
    stored_request_ids,
    via_proxy,
    wait_for,
)
from tests.serving.load import generate
from tests.serving.server import running_server

pytestmark = pytest.mark.integration
SPOOL_LIMIT = 20_000  # bytes: one segment of one-row records under load fills it
DROP_LIMIT = 300_000  # bytes: a few segments


T = TypeVar("T")


async def until(check: Callable[[], T], timeout: float, what: str) -> T:
    return await asyncio.to_thread(wait_for, check, timeout, what)


def checkpointed(db: Path) -> Path:
    """The SQLite file with its write-ahead log folded in, so it alone holds the store."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


async def test_synchronous_spooling_loses_no_answered_prediction_on_kill_9(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    env = {"CONVEYOR_INFERENCE_LOG_SYNC": "true"}
    with running_server(reg, "wine", "--refresh-seconds", "0", env=env) as server:
        stop = asyncio.Event()
        body = {"instances": [wine_row]}
        load = asyncio.create_task(generate(f"{server.url}/predict", body, 16, stop))
        (ingester,) = await until(lambda: ingester_pids(server.proc.pid), 10, "the ingester")
        await asyncio.sleep(2.0)  # under load
        server.proc.kill()
        await asyncio.to_thread(server.proc.wait, 10)
        stop.set()
        result = await load
        # the orphaned ingester sees its input end, stores the spool and exits
        await until(lambda: process_gone(ingester), 60, "the ingester drains and exits")
    stored = stored_request_ids(f"sqlite:///{reg.home / 'conveyor.db'}")
    assert result.ok > 100
    assert set(result.request_ids) <= stored, len(set(result.request_ids) - stored)


async def test_a_full_spool_refuses_predictions_then_recovers(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    url = f"sqlite:///{reg.home / 'conveyor.db'}"
    env = {"CONVEYOR_INFERENCE_LOG_SPOOL_MAX_BYTES": str(SPOOL_LIMIT)}  # reject: the default
    with (
        immutable(checkpointed(reg.home / "conveyor.db")) as make_writable,
        running_server(reg, "wine", "--refresh-seconds", "0", env=env) as server,
    ):
        stop = asyncio.Event()
        body = {"instances": [wine_row]}
        load = asyncio.create_task(generate(f"{server.url}/predict", body, 8, stop))
        ready = await until(
            lambda: (r := httpx.get(f"{server.url}/ready")).status_code == 503 and r,
            20,
            "/ready 503 once the spool is full",
        )
        refused = httpx.post(f"{server.url}/predict", json=body)
        make_writable()
        await until(
            lambda: httpx.get(f"{server.url}/ready").status_code == 200,
            20,
            "ready again once the store takes the backlog",
        )
        probes: list[httpx.Response] = []

        def answers() -> bool:
            probes.append(httpx.post(f"{server.url}/predict", json=body))
            return probes[-1].status_code == 200

        await until(answers, 10, "predictions answered again")
        stop.set()
        result = await load
        text = httpx.get(f"{server.url}/metrics").text
        answered = set(result.request_ids) | {probes[-1].json()["request_id"]}
        await until(lambda: answered <= stored_request_ids(url), 30, "answered rows stored")
    assert isinstance(ready, httpx.Response)
    assert "the spool is full" in " ".join(ready.json()["problems"])
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert "inference-log spool is full" in refused.json()["error"]
    assert result.statuses[503] > 0 and result.statuses[200] > 0
    assert metric(text, "conveyor_inference_log_refused_total ") >= result.statuses[503]
    # exactly the answered predictions are logged: none lost, none refused among them
    assert stored_request_ids(url) - {refused.headers["X-Request-ID"]} == answered


async def test_a_full_spool_drops_its_oldest_records_when_told_to(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    url = f"sqlite:///{reg.home / 'conveyor.db'}"
    env = {
        "CONVEYOR_INFERENCE_LOG_SPOOL_MAX_BYTES": str(DROP_LIMIT),
        "CONVEYOR_INFERENCE_LOG_WHEN_FULL": "drop_oldest",
    }
    dropped_line = 'conveyor_inference_log_dropped_total{reason="spool_full"} '
    with (
        immutable(checkpointed(reg.home / "conveyor.db")) as make_writable,
        running_server(reg, "wine", "--refresh-seconds", "0", env=env) as server,
    ):
        stop = asyncio.Event()
        body = {"instances": [wine_row]}
        load = asyncio.create_task(generate(f"{server.url}/predict", body, 8, stop))
        await until(
            lambda: metric(httpx.get(f"{server.url}/metrics").text, dropped_line) > 0,
            30,
            "records dropped",
        )
        ready = httpx.get(f"{server.url}/ready")
        stop.set()
        result = await load
        scrapes: list[tuple[float, float, float]] = []

        def settled() -> bool:
            """Every answered record spooled, the spool under its limit, and no drop between
            two scrapes a writer tick apart: nothing will be dropped any more."""
            text = httpx.get(f"{server.url}/metrics").text
            scrapes.append(
                (
                    metric(text, "conveyor_inference_log_written_total "),
                    metric(text, "conveyor_inference_log_spool_bytes "),
                    metric(text, dropped_line),
                )
            )
            if len(scrapes) < 2:
                return False
            (written, size, dropped), previous = scrapes[-1], scrapes[-2]
            return written == result.ok and size < DROP_LIMIT and previous[2] == dropped

        await asyncio.to_thread(wait_for, settled, 20, "the spool settled", every=0.6)
        dropped = scrapes[-1][2]
        make_writable()
        await until(
            lambda: len(stored_request_ids(url)) == result.ok - dropped,
            30,
            "the records not dropped in the store",
        )
    assert set(result.statuses) == {200}, result.statuses
    assert ready.status_code == 200
    assert 0 < dropped < result.ok
    assert stored_request_ids(url) <= set(result.request_ids)


@pytest.mark.postgres
async def test_a_store_down_at_start_does_not_stop_serving(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    with (
        postgres_database("conveyor_serve") as pg,
        TcpProxy(*postgres_host_port(pg)) as proxy,  # closed: the store is down
    ):
        env = {"CONVEYOR_STORE_URL": via_proxy(pg, proxy)}
        with running_server(reg, "wine", "--refresh-seconds", "0", env=env) as server:
            down = httpx.get(f"{server.url}/ready")
            stop = asyncio.Event()
            body = {"instances": [wine_row]}
            load = asyncio.create_task(generate(f"{server.url}/predict", body, 8, stop))
            await asyncio.sleep(2.0)  # answered while the store is down
            assert stored_request_ids(pg) == set()
            proxy.open()
            stop.set()
            result = await load
            answered = set(result.request_ids)
            await until(
                lambda: answered <= stored_request_ids(pg), 30, "the spooled rows in the store"
            )
            up = await until(
                lambda: (r := httpx.get(f"{server.url}/ready")).json().get("store") == "ok" and r,
                10,
                "/ready reports the store",
            )
            text = httpx.get(f"{server.url}/metrics").text
    assert down.status_code == 200 and down.json()["store"] == "unavailable"
    assert "store unreachable at start" in server.output()
    assert set(result.statuses) == {200}, result.statuses
    assert result.ok > 100
    assert up.status_code == 200
    assert metric(text, "conveyor_store_up ") == 1


async def test_a_large_request_is_logged_with_its_row_count_and_first_rows(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = make_settings(
        wine_registered.home, model_name="wine", store_url=url, inference_log_max_rows=5
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        large = await client.post("/predict", json={"instances": [wine_row] * 12})
        small = await client.post("/predict", json={"instances": [wine_row] * 3})
    assert large.status_code == small.status_code == 200
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = {r.request_id: r for r in conn.execute(sa.select(inference_log))}
    engine.dispose()
    logged = rows[large.json()["request_id"]]
    assert logged.rows == 12
    assert len(logged.inputs["alcohol"]) == 5
    assert len(logged.outputs["predictions"]) == 5
    assert len(logged.outputs["probabilities"]) == 5
    assert logged.outputs["predictions"] == large.json()["predictions"][:5]
    whole = rows[small.json()["request_id"]]
    assert whole.rows == 3 and len(whole.inputs["alcohol"]) == 3
