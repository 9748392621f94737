"""Admin endpoints: bearer token (401 / 403), reload, and the token never reaches the logs."""

from __future__ import annotations

import logging

import httpx
import pytest


async def test_reload_needs_the_token(
    wine_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await wine_client.post("/admin/reload")).status_code == 401
    wrong = await wine_client.post("/admin/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert (
        await wine_client.post("/admin/reload", headers={"Authorization": "Basic s3cret-token"})
    ).status_code == 401
    ok = await wine_client.post("/admin/reload", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    assert ok.json() == {"swapped": False, "name": "wine", "version": "1"}
    assert "s3cret-token" not in caplog.text


async def test_reload_follows_the_alias(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    """Point the server's source at staging and reload: it swaps to version 2 atomically."""
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    state.manager.source.alias = "staging"
    r = await wine_client.post("/admin/reload", headers={"Authorization": "Bearer s3cret-token"})
    assert r.json() == {"swapped": True, "name": "wine", "version": "2"}
    pred = (await wine_client.post("/predict", json=wine_row)).json()
    assert pred["model"] == {"name": "wine", "version": "2", "stage": "staging"}
    metrics = (await wine_client.get("/metrics")).text
    assert (
        'conveyor_model_info{model="wine",runtime="onnx",semver="1.1.0",stage="staging",version="2"} 1.0'
        in metrics
    )
    assert 'stage="production",version="1"} 0.0' in metrics
