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
        await wine_client.post(
            "/admin/reload", headers={"Authorization": "Basic s3cret-admin-token"}
        )
    ).status_code == 401
    ok = await wine_client.post(
        "/admin/reload", headers={"Authorization": "Bearer s3cret-admin-token"}
    )
    assert ok.status_code == 200
    assert ok.json() == {"swapped": False, "name": "wine", "version": "1"}
    assert "s3cret-admin-token" not in caplog.text


async def test_reload_follows_the_alias(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    """Point the server's source at staging and reload: it swaps to version 2 atomically."""
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    state.manager.source.alias = "staging"
    r = await wine_client.post(
        "/admin/reload", headers={"Authorization": "Bearer s3cret-admin-token"}
    )
    assert r.json() == {"swapped": True, "name": "wine", "version": "2"}
    pred = (await wine_client.post("/predict", json=wine_row)).json()
    assert pred["model"] == {"name": "wine", "version": "2", "stage": "staging"}
    metrics = (await wine_client.get("/metrics")).text
    assert (
        'conveyor_model_info{model="wine",runtime="onnx",semver="1.1.0",stage="staging",version="2"} 1.0'
        in metrics
    )
    assert 'stage="production",version="1"} 0.0' in metrics


async def test_rollout_controls(wine_client: httpx.AsyncClient) -> None:
    """Start, refuse a second, refuse an illegal step, abort; every answer shows the rollout."""
    auth = {"Authorization": "Bearer s3cret-admin-token"}
    assert (await wine_client.get("/admin/rollout")).status_code == 401
    idle = await wine_client.get("/admin/rollout", headers=auth)
    assert idle.status_code == 200 and idle.json() == {"model": "wine", "rollout": None}

    missing = await wine_client.post("/admin/rollout/start", headers=auth, json={})
    assert missing.status_code == 400 and "version" in missing.text
    bad_steps = {"version": "2", "steps": [50, 25]}
    refused = await wine_client.post("/admin/rollout/start", headers=auth, json=bad_steps)
    assert refused.status_code == 400 and "steps" in refused.text, refused.text

    body = {"version": "2", "steps": [30, 100], "step_seconds": 60, "reason": "try v2"}
    started = await wine_client.post("/admin/rollout/start", headers=auth, json=body)
    assert started.status_code == 201, started.text
    view = started.json()
    assert (view["rollout"]["state"], view["rollout"]["candidate"]) == ("pending", "2")
    assert view["rollout"]["champion"] == "1"
    assert [s["weight"] for s in view["plan"]] == [30.0, 100.0]
    (event,) = view["events"]
    assert (event["kind"], event["to_state"], event["reason"]) == (
        "transition",
        "pending",
        "try v2",
    )
    assert event["actor"] == "admin-api"

    again = await wine_client.post("/admin/rollout/start", headers=auth, json=body)
    assert again.status_code == 409, again.text
    illegal = await wine_client.post("/admin/rollout/resume", headers=auth)
    assert illegal.status_code == 409 and "pending" in illegal.text, illegal.text
    unknown = await wine_client.post("/admin/rollout/jump", headers=auth)
    assert unknown.status_code == 400

    aborted = await wine_client.post("/admin/rollout/abort", headers=auth, json={"reason": "no"})
    assert aborted.status_code == 200 and aborted.json()["rollout"]["state"] == "aborted"
    nothing = await wine_client.post("/admin/rollout/abort", headers=auth)
    assert nothing.status_code == 404, nothing.text


async def test_wrong_tokens_are_limited_per_client(wine_client: httpx.AsyncClient) -> None:
    """Ten wrong tokens in a minute, then every attempt from that client waits (429 with
    Retry-After), the right token included: a token cannot be guessed at request speed."""
    for _ in range(10):
        wrong = await wine_client.post("/admin/reload", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 403
    limited = await wine_client.post(
        "/admin/reload", headers={"Authorization": "Bearer s3cret-admin-token"}
    )
    assert limited.status_code == 429, limited.text
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "10 wrong tokens" in limited.json()["error"]
    app = wine_client.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 5))
    other = httpx.AsyncClient(transport=transport, base_url="http://test")
    async with other:
        ok = await other.post(
            "/admin/reload", headers={"Authorization": "Bearer s3cret-admin-token"}
        )
    assert ok.status_code == 200  # another client is not held back


async def test_a_rollout_with_a_webhook_into_the_servers_network_is_refused(
    wine_client: httpx.AsyncClient,
) -> None:
    auth = {"Authorization": "Bearer s3cret-admin-token"}
    body = {"version": "2", "steps": [100], "webhooks": ["http://169.254.169.254/latest/"]}
    refused = await wine_client.post("/admin/rollout/start", headers=auth, json=body)
    assert refused.status_code == 400, refused.text
    assert "webhooks.0" in refused.text and "link-local" in refused.text
    idle = await wine_client.get("/admin/rollout", headers=auth)
    assert idle.json()["rollout"] is None  # nothing started
