"""The server under load: hot swaps lose nothing, SIGTERM loses nothing, workers share metrics."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.serving.conftest import Registered
from tests.serving.load import generate
from tests.serving.server import running_server

pytestmark = pytest.mark.integration
TOKEN = "lifecycle-admin-token"


async def test_three_hot_swaps_under_load_fail_nothing(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    env = {"CONVEYOR_ADMIN_TOKEN": TOKEN}
    with running_server(reg, "wine", "--refresh-seconds", "0", env=env) as server:
        stop = asyncio.Event()
        load = asyncio.create_task(
            generate(f"{server.url}/predict", {"instances": [wine_row]}, 16, stop)
        )
        swaps = []
        async with httpx.AsyncClient(timeout=60) as admin:
            for version in ("2", "1", "2"):
                await asyncio.sleep(0.5)
                await asyncio.to_thread(
                    reg.conveyor, "promote", "wine", version, "--to", "production"
                )
                r = await admin.post(
                    f"{server.url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                swaps.append(r.json())
            await asyncio.sleep(0.5)
        stop.set()
        result = await load
    assert [s["version"] for s in swaps] == ["2", "1", "2"]
    assert all(s["swapped"] for s in swaps)
    assert result.errors == {}
    assert set(result.statuses) == {200}, result.statuses
    assert set(result.versions) == {"1", "2"}
    assert result.ok > 100


async def test_sigterm_under_load_loses_no_logged_prediction(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    store_db = reg.home / "conveyor.db"
    with running_server(reg, "wine", "--refresh-seconds", "0") as server:
        stop = asyncio.Event()
        load = asyncio.create_task(
            generate(f"{server.url}/predict", {"instances": [wine_row]}, 16, stop)
        )
        await asyncio.sleep(2.0)
        server.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.proc.wait, 60)
        stop.set()
        result = await load
    # uvicorn re-raises the signal after its graceful shutdown: exit by SIGTERM is the clean path
    assert code in (0, -signal.SIGTERM), server.output()
    engine = sa.create_engine(f"sqlite:///{store_db}")
    with engine.connect() as conn:
        logged = set(conn.execute(sa.text("select request_id from inference_log")).scalars())
    engine.dispose()
    assert result.ok > 50
    assert len(logged) == result.ok
    assert logged == set(result.request_ids)


def test_two_workers_share_metrics(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    with running_server(reg, "wine", "--workers", "2", "--refresh-seconds", "0") as server:
        with httpx.Client(timeout=10) as client:
            for _ in range(60):
                r = client.post(f"{server.url}/predict", json={"instances": [wine_row]})
                assert r.status_code == 200
            text = client.get(f"{server.url}/metrics").text
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith(
                'conveyor_requests_total{model="wine",route="/predict",status="200",version="1"}'
            )
        )
        assert float(line.rsplit(" ", 1)[1]) == 60.0
        children = subprocess.run(
            ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) >= 2


def test_workers_remove_their_metrics_directory_on_sigterm(
    wine_registered: Registered, tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    with running_server(reg, "wine", "--workers", "2", "--refresh-seconds", "0", env=env) as server:
        assert len([p for p in tmp.iterdir() if p.name.startswith("conveyor-metrics-")]) == 1
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(60)
    assert code in (0, -signal.SIGTERM), server.output()
    assert not [p for p in tmp.iterdir() if p.name.startswith("conveyor-metrics-")]
