"""`/predict`, health, info and feedback in process (httpx over ASGI), on a real registered model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import sqlalchemy as sa

from conveyor.serving.app import create_app
from conveyor.store.tables import feedback, inference_log
from tests.serving.conftest import Registered, make_settings


async def test_named_instances(wine_client: httpx.AsyncClient, wine_row: dict[str, float]) -> None:
    r = await wine_client.post("/predict", json={"instances": [wine_row, wine_row]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == [0, 0]  # the first wine row is class 0
    assert body["classes"] == [0, 1, 2]
    assert len(body["probabilities"]) == 2 and abs(sum(body["probabilities"][0]) - 1) < 1e-5
    assert body["model"] == {"name": "wine", "version": "1", "stage": "production"}
    assert body["request_id"] == r.headers["x-request-id"]
    assert body["latency_ms"] > 0


async def test_single_object_and_matrix_agree(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    one = (await wine_client.post("/predict", json=wine_row)).json()
    info = (await wine_client.get("/model/info")).json()
    ordered = [wine_row[f["name"]] for f in info["schema"]["features"]]
    matrix = (await wine_client.post("/predict", json={"features": [ordered]})).json()
    assert one["predictions"] == matrix["predictions"] == [0]
    assert one["probabilities"] == matrix["probabilities"]


async def test_request_id_is_honoured(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    r = await wine_client.post("/predict", json=wine_row, headers={"X-Request-ID": "order-42"})
    assert r.headers["x-request-id"] == "order-42"
    assert r.json()["request_id"] == "order-42"


async def test_pinned_version(wine_client: httpx.AsyncClient, wine_row: dict[str, float]) -> None:
    ok = await wine_client.post("/predict", json={"instances": [wine_row], "model_version": "1"})
    assert ok.status_code == 200
    missing = await wine_client.post(
        "/predict", json={"instances": [wine_row], "model_version": "7"}
    )
    assert missing.status_code == 404
    assert "version 7" in missing.json()["error"]
    latest = await wine_client.post(
        "/predict", json={"instances": [wine_row], "model_version": "latest"}
    )
    assert latest.status_code == 200, latest.text
    assert latest.json()["model"]["version"] == "1"  # the newest loaded: only production here


async def test_routes_answer_with_a_trailing_slash(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    """No 307 to follow (many clients do not re-POST): both spellings reach the route."""
    plain = await wine_client.post("/predict", json={"instances": [wine_row]})
    slashed = await wine_client.post("/predict/", json={"instances": [wine_row]})
    assert slashed.status_code == 200, slashed.text
    assert slashed.json()["predictions"] == plain.json()["predictions"]
    assert (await wine_client.get("/model/info/")).json()["name"] == "wine"
    assert (await wine_client.get("/v2/models/wine/")).status_code == 200
    assert (await wine_client.get("/nosuch/")).status_code == 404


async def test_info_health_ready(wine_client: httpx.AsyncClient) -> None:
    assert (await wine_client.get("/health")).json() == {"status": "ok"}
    verbose = (await wine_client.get("/health", params={"verbose": "true"})).json()
    assert verbose["model"] == {"name": "wine", "version": "1", "stage": "production"}
    assert verbose["registry"]["reachable"] is None  # no refresh yet (refresh_seconds 0 here)
    assert (await wine_client.get("/ready")).status_code == 200
    info = (await wine_client.get("/model/info")).json()
    assert (info["name"], info["version"], info["stage"], info["semver"]) == (
        "wine",
        "1",
        "production",
        "1.0.0",
    )
    assert info["runtime"] == "onnx"
    assert info["run_id"] and info["loaded_at"]
    assert info["metrics"]["accuracy"] > 0.8
    assert len(info["schema"]["features"]) == 13


async def test_predictions_are_logged_and_feedback_joins(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    ids = []
    for _ in range(3):
        r = await wine_client.post("/predict", json={"instances": [wine_row, wine_row]})
        ids.append(r.json()["request_id"])
    fb = await wine_client.post(
        "/feedback",
        json={
            "feedback": [
                {"request_id": ids[0], "label": 0},
                {"request_id": ids[0], "row": 1, "label": 2},
            ]
        },
    )
    assert fb.status_code == 200, fb.text
    assert fb.json() == {
        "accepted": 2,
        "joined": 2,
        "pending": 0,
        "rejected": 0,
        "unmatched": [],
        "unmatched_omitted": 0,
    }
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    state.log_writer.stop()  # flush
    with state.store.engine.connect() as conn:
        logged = conn.execute(sa.select(inference_log)).mappings().all()
        joined = conn.execute(
            sa.select(feedback.c.row, feedback.c.label, inference_log.c.outputs)
            .join(inference_log, inference_log.c.request_id == feedback.c.request_id)
            .order_by(feedback.c.row)
        ).all()
    assert {row["request_id"] for row in logged} == set(ids)
    first = next(row for row in logged if row["request_id"] == ids[0])
    assert first["rows"] == 2 and first["version"] == "1" and first["status"] == 200
    assert first["inputs"]["alcohol"] == [wine_row["alcohol"]] * 2
    assert [(r.row, r.label) for r in joined] == [(0, 0), (1, 2)]
    assert joined[0].outputs["predictions"] == [0, 0]


async def test_feedback_label_is_checked(wine_client: httpx.AsyncClient) -> None:
    r = await wine_client.post("/feedback", json={"request_id": "abc", "label": 9})
    assert r.status_code == 422
    assert r.json()["problems"][0]["loc"] == "label"
    r = await wine_client.post("/feedback", json={"label": 1})
    assert r.status_code == 422
    assert r.json()["problems"][0]["loc"] == "request_id"


async def test_metrics_exposition(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    await wine_client.post("/predict", json={"instances": [wine_row] * 3})
    await wine_client.post("/predict", json={"instances": [{"alcohol": "x"}]})
    text = (await wine_client.get("/metrics")).text
    assert (
        'conveyor_requests_total{model="wine",route="/predict",status="200",version="1"} 1.0'
        in text
    )
    assert 'route="/predict",status="422"' in text
    assert 'conveyor_predictions_total{class="0",model="wine",version="1"} 3.0' in text
    assert (
        'conveyor_model_info{model="wine",runtime="onnx",semver="1.0.0",stage="production",version="1"} 1.0'
        in text
    )
    assert "conveyor_batch_rows_bucket" in text
    assert "conveyor_request_duration_seconds_bucket" in text
    assert "conveyor_model_load_seconds" in text
    assert "conveyor_inference_log_queue_depth" in text
    assert "conveyor_inference_log_spool_segments" in text


async def test_verbose_health_says_what_the_last_refresh_found(
    wine_registered: Registered, tmp_path: Path
) -> None:
    settings = make_settings(
        wine_registered.home,
        model_name="wine",
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        refresh_seconds=0.2,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            registry = (await client.get("/health?verbose=1")).json()["registry"]
            if registry["reachable"] is not None:
                break
            assert asyncio.get_running_loop().time() < deadline, registry
            await asyncio.sleep(0.1)
    assert registry["reachable"] is True and registry["checked_at"]
    assert registry["refresh_seconds"] == 0.2


async def test_feature_names_spelt_differently(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    """pandas and SQL rewrite `/` to `_`: a name that differs only by punctuation or case is
    the feature; a misspelt one is refused with the closest expected name."""
    plain = (await wine_client.post("/predict", json={"instances": [wine_row]})).json()
    respelt = dict(wine_row)
    respelt["od280_od315_of_diluted_wines"] = respelt.pop("od280/od315_of_diluted_wines")
    respelt["Color_Intensity"] = respelt.pop("color_intensity")
    r = await wine_client.post("/predict", json={"instances": [respelt]})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == plain["predictions"]
    typo = dict(wine_row)
    typo["alcohl"] = typo.pop("alcohol")
    r = await wine_client.post("/predict", json={"instances": [typo]})
    assert r.status_code == 422
    problems = {p["loc"]: p["msg"] for p in r.json()["problems"]}
    assert problems["instances[0].alcohl"] == "unknown feature; did you mean 'alcohol'?"
    assert problems["instances[0].alcohol"] == "missing feature"
