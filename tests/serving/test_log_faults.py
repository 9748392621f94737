"""The inference log under faults of its own parts, on a real server under load: the ingester
killed, the store's files deleted, the spool directory deleted, the store read-only at
start. Every prediction answered after the fault reaches the store while the server runs on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import Registered
from tests.serving.faults import (
    immutable,
    ingester_pids,
    metric,
    stored_request_ids,
    wait_for,
)
from tests.serving.load import generate
from tests.serving.server import running_server

pytestmark = pytest.mark.integration
CONCURRENCY = 8


def store_url(reg: Registered) -> str:
    return f"sqlite:///{reg.home / 'conveyor.db'}"


async def until(check: object, timeout: float, what: str) -> object:
    return await asyncio.to_thread(wait_for, check, timeout, what)  # type: ignore[arg-type]


async def test_a_killed_ingester_is_restarted_and_every_answered_row_arrives(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    with running_server(reg, "wine", "--refresh-seconds", "0") as server:
        stop = asyncio.Event()
        body = {"instances": [wine_row]}
        load = asyncio.create_task(generate(f"{server.url}/predict", body, CONCURRENCY, stop))
        await until(lambda: ingester_pids(server.proc.pid), 10, "the ingester runs")
        await asyncio.sleep(1.0)  # traffic flows through the log
        (old,) = ingester_pids(server.proc.pid)
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        await until(
            lambda: httpx.get(f"{server.url}/ready").status_code == 503,
            5,
            "/ready answers 503 while the ingester is down",
        )
        await until(
            lambda: [p for p in ingester_pids(server.proc.pid) if p != old], 10, "a new ingester"
        )
        restarted_s = time.monotonic() - killed
        await asyncio.sleep(1.0)  # traffic through the new ingester
        stop.set()
        result = await load
        answered = set(result.request_ids)
        await until(
            lambda: answered <= stored_request_ids(store_url(reg)),
            30,
            "every answered prediction in the store, the server still running",
        )
        ready = httpx.get(f"{server.url}/ready")
        text = httpx.get(f"{server.url}/metrics").text
    assert set(result.statuses) == {200}, result.statuses
    assert result.ok > 100
    assert restarted_s < 5
    assert ready.status_code == 200
    assert ready.json()["inference_log"]["ingester"] == "up"
    assert metric(text, "conveyor_inference_log_ingester_restarts_total ") == 1
    assert metric(text, "conveyor_inference_log_ingester_up ") == 1
    assert f"inference-log ingester (pid {old}) exited with signal SIGKILL" in server.output()


async def test_deleted_store_files_are_created_again_and_later_rows_arrive(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    with running_server(reg, "wine", "--refresh-seconds", "0") as server:
        stop = asyncio.Event()
        body = {"instances": [wine_row]}
        load = asyncio.create_task(generate(f"{server.url}/predict", body, CONCURRENCY, stop))
        await asyncio.sleep(1.5)  # rows in the store and in flight
        for path in reg.home.glob("conveyor.db*"):
            path.unlink()
        deleted = time.monotonic()
        await until(
            lambda: "was deleted or replaced while in use" in server.output(),
            10,
            "a log line about the deleted store",
        )
        detected_s = time.monotonic() - deleted
        await asyncio.sleep(1.5)  # traffic into the new store
        stop.set()
        result = await load
        after = result.sent_after(deleted)
        await until(
            lambda: after <= stored_request_ids(store_url(reg)),
            30,
            "every prediction answered after the deletion in the new store",
        )
        ready = httpx.get(f"{server.url}/ready")
        text = httpx.get(f"{server.url}/metrics").text
    assert set(result.statuses) == {200}, result.statuses
    assert len(after) > 50
    assert detected_s < 5
    assert metric(text, "conveyor_store_recreated_total ") >= 1
    assert ready.status_code == 200 and ready.json()["store"] == "ok"


async def test_a_deleted_spool_directory_is_created_again_and_later_rows_arrive(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    spool = reg.home / "spool" / "inference"
    with running_server(reg, "wine", "--refresh-seconds", "0") as server:
        stop = asyncio.Event()
        body = {"instances": [wine_row]}
        load = asyncio.create_task(generate(f"{server.url}/predict", body, CONCURRENCY, stop))
        await asyncio.sleep(1.5)
        shutil.rmtree(spool)
        deleted = time.monotonic()
        await until(spool.is_dir, 10, "the spool directory exists again")
        await asyncio.sleep(1.5)
        stop.set()
        result = await load
        after = result.sent_after(deleted)
        await until(
            lambda: after <= stored_request_ids(store_url(reg)),
            30,
            "every prediction answered after the deletion in the store",
        )
        ready = httpx.get(f"{server.url}/ready")
    assert set(result.statuses) == {200}, result.statuses
    assert len(after) > 50
    assert "spool directory" in server.output() and "created it again" in server.output()
    assert ready.status_code == 200


async def test_a_store_read_only_at_start_is_written_once_it_is_writable(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    db = reg.home / "conveyor.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:  # all in the main file, no journal
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with (
        immutable(db) as make_writable,
        running_server(reg, "wine", "--refresh-seconds", "0") as server,
    ):
        stop = asyncio.Event()
        body = {"instances": [wine_row]}
        load = asyncio.create_task(generate(f"{server.url}/predict", body, CONCURRENCY, stop))
        await until(
            lambda: "attempt to write a readonly database" in server.output(),
            15,
            "the ingester reports the read-only store",
        )
        assert stored_request_ids(store_url(reg)) == set()
        make_writable()
        writable = time.monotonic()
        await asyncio.sleep(1.0)
        stop.set()
        result = await load
        answered = set(result.request_ids)
        await until(
            lambda: answered <= stored_request_ids(store_url(reg)),
            20,
            "every answered prediction in the store once it is writable",
        )
        recovered_s = time.monotonic() - writable
    assert set(result.statuses) == {200}, result.statuses
    assert result.ok > 100
    assert recovered_s < 15
