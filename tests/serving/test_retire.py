"""A swap does not stop the old model under a request that already took it (in process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from conveyor.serving.app import create_app
from conveyor.serving.batcher import MicroBatcher
from conveyor.serving.parts import ServerParts
from tests.serving.conftest import Registered, make_settings

TOKEN = "retire-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def _client(registered: Registered, tmp_path: Path, **settings: Any) -> AsyncIterator[Any]:
    app = create_app(
        make_settings(
            registered.home,
            model_name="wine",
            store_url=f"sqlite:///{tmp_path / 'store.db'}",
            admin_token=TOKEN,
            rollout_controller=False,
            **settings,
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client, app.state.conveyor


@pytest_asyncio.fixture
async def served(wine_registered: Registered, tmp_path: Path) -> AsyncIterator[Any]:
    async for pair in _client(wine_registered, tmp_path):
        yield pair


@pytest_asyncio.fixture
async def impatient(wine_registered: Registered, tmp_path: Path) -> AsyncIterator[Any]:
    async for pair in _client(wine_registered, tmp_path, retire_grace_seconds=0.2):
        yield pair


def _hold_first_request(parts: ServerParts) -> tuple[asyncio.Event, asyncio.Event]:
    """The first request stops after taking its model, before calling it (where a feature
    lookup or decoding off the loop awaits); it goes on when the second event is set."""
    held, release = asyncio.Event(), asyncio.Event()
    original: Callable[..., Any] = parts.dataplane.predict

    async def predict(*args: Any, **kwargs: Any) -> Any:
        if not held.is_set():
            held.set()
            await release.wait()
        return await original(*args, **kwargs)

    parts.dataplane.predict = predict  # type: ignore[method-assign]
    return held, release


async def _swap_to_staging(client: httpx.AsyncClient, parts: ServerParts) -> asyncio.Task[Any]:
    """Start a reload to version 2 and return once version 2 serves (the reload itself goes
    on: it retires version 1)."""
    parts.manager.source.alias = "staging"  # type: ignore[attr-defined]
    swaps = parts.manager.swaps
    reload = asyncio.create_task(client.post("/admin/reload", headers=ADMIN))
    while parts.manager.swaps == swaps:
        assert not reload.done(), reload.result().text
        await asyncio.sleep(0.01)
    return reload


async def test_a_request_holding_the_old_version_is_answered_by_it(
    served: tuple[httpx.AsyncClient, ServerParts], wine_row: dict[str, float]
) -> None:
    client, parts = served
    held, release = _hold_first_request(parts)
    old: MicroBatcher = parts.manager.current().batcher
    first = asyncio.create_task(client.post("/predict", json=wine_row))
    await held.wait()
    reload = await _swap_to_staging(client, parts)

    meanwhile = await client.post("/predict", json=wine_row)  # new requests: version 2
    assert meanwhile.status_code == 200, meanwhile.text
    assert meanwhile.json()["model"]["version"] == "2"
    await asyncio.sleep(0.2)
    assert not reload.done() and old.state.value == "running"  # waiting for the held request

    release.set()
    answer = await first
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"]["version"] == "1"
    reloaded = await reload
    assert reloaded.json() == {"swapped": True, "name": "wine", "version": "2"}
    assert old.state.value == "stopped"
    assert parts.manager.inflight.running == 0


async def test_the_grace_is_bounded(
    impatient: tuple[httpx.AsyncClient, ServerParts], wine_row: dict[str, float]
) -> None:
    """A request held past ``retire_grace_seconds`` does not keep version 1 alive: the reload
    returns, and the straggler gets a 503 that says why, never a 500."""
    client, parts = impatient
    held, release = _hold_first_request(parts)
    first = asyncio.create_task(client.post("/predict", json=wine_row))
    await held.wait()
    reload = await _swap_to_staging(client, parts)
    reloaded = await asyncio.wait_for(reload, 10)
    assert reloaded.json()["swapped"] is True
    release.set()
    answer = await first
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "the model is not accepting requests"


@pytest.mark.parametrize("route", ["/v2/models/wine/infer", "/v2/models/wine/versions/1/infer"])
async def test_a_v2_request_takes_its_model_once_its_body_is_in(
    served: tuple[httpx.AsyncClient, ServerParts], wine_row: dict[str, float], route: str
) -> None:
    """A V2 request, like /predict, is counted from taking its model to its answer: held
    across a swap it is answered by the version it took."""
    client, parts = served
    held, release = _hold_first_request(parts)
    body = {
        "inputs": [
            {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
            for name, value in wine_row.items()
        ]
    }
    first = asyncio.create_task(client.post(route, json=body))
    await held.wait()
    assert parts.manager.inflight.running == 1
    reload = await _swap_to_staging(client, parts)
    release.set()
    answer = await first
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == "1"
    assert (await reload).json()["version"] == "2"
