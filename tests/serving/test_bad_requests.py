"""Client mistakes get a 4xx naming the field and row, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from conveyor.serving.app import create_app
from tests.serving.conftest import Registered, make_settings


async def post(client: httpx.AsyncClient, body: object) -> httpx.Response:
    return await client.post("/predict", json=body)


@pytest.mark.parametrize(
    ("mutate", "loc", "status"),
    [
        (lambda r: r.pop("alcohol"), "instances[1].alcohol", 422),
        (lambda r: r.update(colour="red"), "instances[1].colour", 422),
        (lambda r: r.update(alcohol="12.1"), "instances[1].alcohol", 422),
        (lambda r: r.update(alcohol=None), "instances[1].alcohol", 422),
        (lambda r: r.update(alcohol=True), "instances[1].alcohol", 422),
        (lambda r: r.update(alcohol=[1.0]), "instances[1].alcohol", 422),
    ],
)
async def test_bad_instance_names_field_and_row(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float], mutate, loc: str, status: int
) -> None:
    bad = dict(wine_row)
    mutate(bad)
    r = await post(wine_client, {"instances": [wine_row, bad]})
    assert r.status_code == status, r.text
    locs = [p["loc"] for p in r.json()["problems"]]
    assert loc in locs
    assert all(not p.startswith("instances[0]") for p in locs)


async def test_every_problem_reported(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    a = dict(wine_row, alcohol="x")
    b = dict(wine_row, hue=None)
    r = await post(wine_client, {"instances": [a, b]})
    locs = {p["loc"] for p in r.json()["problems"]}
    assert {"instances[0].alcohol", "instances[1].hue"} <= locs


@pytest.mark.parametrize(
    ("body", "status", "loc"),
    [
        ({"instances": []}, 400, "instances"),
        ({"instances": [1, 2]}, 422, "instances[0]"),
        ({"features": [[1.0, 2.0]]}, 422, "features[0]"),
        ({"features": "nope"}, 400, "features"),
        ([1, 2, 3], 400, "body"),
        ({"instances": [{}], "model_version": {"x": 1}}, 400, "model_version"),
    ],
)
async def test_bad_shapes(
    wine_client: httpx.AsyncClient, body: object, status: int, loc: str
) -> None:
    r = await post(wine_client, body)
    assert r.status_code == status, r.text
    assert r.json()["problems"][0]["loc"] == loc


async def test_infinite_in_matrix(wine_client: httpx.AsyncClient) -> None:
    row = [1.0] * 13
    row[4] = 1e309  # JSON overflow → inf
    r = await wine_client.post(
        "/predict",
        content=b'{"features": [['
        + b",".join(b"1e309" if i == 4 else b"1.0" for i in range(13))
        + b"]]}",
    )
    assert r.status_code in (400, 422), r.text
    assert "problems" in r.json()


async def test_malformed_and_empty_bodies(wine_client: httpx.AsyncClient) -> None:
    for content in (b"", b"{not json", b"NaN"):
        r = await wine_client.post("/predict", content=content)
        assert r.status_code == 400, (content, r.text)
        assert r.json()["problems"][0]["loc"] == "body"


async def test_oversized_body_is_413(wine_client: httpx.AsyncClient) -> None:
    app = wine_client.app  # type: ignore[attr-defined]
    limit = app.state.conveyor.settings.max_body_bytes
    r = await wine_client.post("/predict", content=b"[" + b"1," * limit + b"1]")
    assert r.status_code == 413


async def test_unknown_route_and_method_are_json(wine_client: httpx.AsyncClient) -> None:
    r = await wine_client.get("/nope")
    assert r.status_code == 404 and "error" in r.json()
    r = await wine_client.get("/predict")
    assert r.status_code == 405 and "error" in r.json()


async def test_categorical_policy_and_nullable(mixed_client: httpx.AsyncClient) -> None:
    ok = await mixed_client.post(
        "/predict", json={"instances": [{"colour": "red", "size": None, "flag": True}]}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["classes"] == ["no", "yes"]
    assert ok.json()["predictions"] == ["yes"]
    unseen = await mixed_client.post(
        "/predict", json={"instances": [{"colour": "mauve", "size": 1.0, "flag": False}]}
    )
    assert unseen.status_code == 422
    assert unseen.json()["problems"] == [
        {"loc": "instances[0].colour", "msg": "unseen category 'mauve'"}
    ]
    wrong = await mixed_client.post(
        "/predict", json={"instances": [{"colour": {"a": 1}, "size": 1.0, "flag": "yes"}]}
    )
    locs = {p["loc"] for p in wrong.json()["problems"]}
    assert locs == {"instances[0].colour", "instances[0].flag"}


async def test_huge_integer_is_named_not_a_crash(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    row = ", ".join(
        f'"{k}": {"1" + "0" * 400 if k == "alcohol" else "NaN" if k == "hue" else v}'
        for k, v in wine_row.items()
    )
    r = await wine_client.post("/predict", content=f'{{"instances": [{{{row}}}]}}')
    assert r.status_code == 422, r.text
    assert {p["loc"] for p in r.json()["problems"]} == {
        "instances[0].alcohol",
        "instances[0].hue",
    }


async def test_problems_stop_at_the_cap(wine_client: httpx.AsyncClient) -> None:
    from conveyor.serving.inputs import MAX_PROBLEMS

    r = await post(wine_client, {"instances": [{}] * 5000})
    assert r.status_code == 422
    body = r.json()
    assert len(body["problems"]) == MAX_PROBLEMS and body["truncated"] is True
    assert f"checking stopped after {MAX_PROBLEMS} problems" in body["error"]


@pytest_asyncio.fixture
async def capped_client(
    wine_registered: Registered, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        wine_registered.home,
        model_name="wine",
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        max_request_rows=3,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def test_rows_per_request_are_capped_by_the_setting(
    capped_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    assert (await post(capped_client, {"instances": [wine_row] * 3})).status_code == 200
    for body, loc in (
        ({"instances": [wine_row] * 4}, "instances"),
        ({"features": [list(wine_row.values())] * 4}, "features"),
    ):
        r = await post(capped_client, body)
        assert r.status_code == 413, r.text
        assert r.json()["problems"] == [
            {"loc": loc, "msg": "4 rows; at most 3 per request (CONVEYOR_MAX_REQUEST_ROWS)"}
        ]
    tensors = [
        {"name": k, "shape": [4], "datatype": "FP64", "data": [v] * 4} for k, v in wine_row.items()
    ]
    r = await capped_client.post("/v2/models/wine/infer", json={"inputs": tensors})
    assert r.status_code == 413
    assert "inputs[alcohol].shape: 4 rows; at most 3" in r.json()["error"]


async def test_large_bodies_decode_off_the_loop_with_the_same_answers(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    from conveyor.serving.http import OFFLOAD_BYTES

    small = await post(wine_client, {"instances": [wine_row] * 2})
    rows = OFFLOAD_BYTES // len(json.dumps(wine_row)) + 1
    large = await post(wine_client, {"instances": [wine_row] * rows})
    assert large.status_code == 200, large.text
    assert len(large.content) > 0 and large.json()["predictions"] == [0] * rows
    assert large.json()["probabilities"][0] == small.json()["probabilities"][0]
    bad = await post(wine_client, {"instances": [wine_row] * (rows - 1) + [{}]})
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["loc"] == f"instances[{rows - 1}].alcalinity_of_ash"
