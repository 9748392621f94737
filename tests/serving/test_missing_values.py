"""Missing values travel over /predict (null, pandas' bare NaN, "") and V2 (null, NaN, BYTES ""):
accepted for features that were nullable in training, refused naming the feature elsewhere."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import pytest_asyncio

from conveyor.serving.app import create_app
from tests.serving.conftest import Registered, make_settings

V2 = "/v2/models/houses/infer"


@pytest_asyncio.fixture
async def houses(
    nullable_registered: Registered, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        nullable_registered.home,
        model_name="houses",
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        unseen_categories="reject",
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


def problems(r: httpx.Response) -> dict[str, str]:
    return {p["loc"]: p["msg"] for p in r.json()["problems"]}


async def test_schema_is_what_the_tests_assume(houses: httpx.AsyncClient) -> None:
    schema = (await houses.get("/model/info")).json()["schema"]
    nullable = {f["name"]: f["nullable"] for f in schema["features"]}
    assert nullable == {"district": True, "area": True, "rooms": False}


async def test_null_and_pandas_nan_are_the_same_missing_value(houses: httpx.AsyncClient) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {"district": ["north", None], "area": [float("nan"), 70.0], "rooms": [3.0, 2.0]}
    )
    text = json.dumps({"instances": frame.to_dict("records")})  # what pandas users send
    assert "NaN" in text
    from_pandas = await houses.post("/predict", content=text)
    assert from_pandas.status_code == 200, from_pandas.text
    with_null = await houses.post(
        "/predict",
        json={
            "instances": [
                {"district": "north", "area": None, "rooms": 3.0},
                {"district": None, "area": 70.0, "rooms": 2.0},
            ]
        },
    )
    assert with_null.status_code == 200, with_null.text
    assert from_pandas.json()["predictions"] == with_null.json()["predictions"]
    empty = await houses.post(
        "/predict", json={"instances": [{"district": "", "area": 70.0, "rooms": 2.0}]}
    )
    assert empty.json()["predictions"] == with_null.json()["predictions"][1:]


async def test_missing_in_a_feature_never_missing_is_refused_by_name(
    houses: httpx.AsyncClient,
) -> None:
    for body in (
        b'{"instances": [{"district": "north", "area": 1.0, "rooms": NaN}]}',
        b'{"instances": [{"district": "north", "area": 1.0, "rooms": null}]}',
    ):
        r = await houses.post("/predict", content=body)
        assert r.status_code == 422, r.text
        assert problems(r) == {
            "instances[0].rooms": "must not be missing (null or NaN): "
            "the model was trained without missing values"
        }


async def test_infinity_is_refused_with_a_hint(houses: httpx.AsyncClient) -> None:
    r = await houses.post(
        "/predict",
        content=b'{"instances": [{"district": "north", "area": Infinity, "rooms": NaN}]}',
    )
    assert r.status_code == 400
    assert "Infinity" in problems(r)["body"] and "null" in problems(r)["body"]
    malformed = await houses.post("/predict", content=b'{"instances": [NaN')
    assert malformed.status_code == 400
    assert problems(malformed)["body"].startswith("malformed JSON")


async def test_features_matrix_with_nulls(houses: httpx.AsyncClient) -> None:
    names = [f["name"] for f in (await houses.get("/model/info")).json()["schema"]["features"]]
    rows: list[dict[str, Any]] = [
        {"district": "north", "area": None, "rooms": 3.0},
        {"district": None, "area": 60.0, "rooms": 1.0},
        {"district": "east", "area": 90.0, "rooms": 4.0},
    ]
    matrix = await houses.post("/predict", json={"features": [[r[n] for n in names] for r in rows]})
    named = await houses.post("/predict", json={"instances": rows})
    assert matrix.status_code == named.status_code == 200, matrix.text
    assert matrix.json()["predictions"] == named.json()["predictions"]


async def test_numeric_matrix_nan_names_the_cell(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    values = [str(v) for v in wine_row.values()]
    values[0] = "NaN"  # every wine feature was complete in training
    r = await wine_client.post("/predict", content=f'{{"features": [[{",".join(values)}]]}}')
    assert r.status_code == 422, r.text
    assert problems(r) == {
        "features[0].alcohol": "must not be missing (null or NaN): "
        "the model was trained without missing values"
    }


def tensor(name: str, data: list[object], datatype: str) -> dict[str, object]:
    return {"name": name, "shape": [len(data)], "datatype": datatype, "data": data}


async def test_v2_json_null_and_bytes_empty_are_missing(houses: httpx.AsyncClient) -> None:
    r = await houses.post(
        V2,
        json={
            "inputs": [
                tensor("district", ["north", None, ""], "BYTES"),
                tensor("area", [None, 70.0, 70.0], "FP64"),
                tensor("rooms", [3.0, 2.0, 2.0], "FP32"),
            ]
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["datatype"] == "FP64"  # as the metadata says
    reference = await houses.post(
        "/predict",
        json={
            "instances": [
                {"district": "north", "area": None, "rooms": 3.0},
                {"district": None, "area": 70.0, "rooms": 2.0},
            ]
        },
    )
    expected = reference.json()["predictions"]
    assert np.allclose(out["data"], [*expected, expected[1]], rtol=1e-6)
    assert out["data"][1] == out["data"][2]  # null and "" are the same missing category


async def test_v2_missing_refused_for_a_feature_never_missing(houses: httpx.AsyncClient) -> None:
    json_null = await houses.post(
        V2,
        json={
            "inputs": [
                tensor("district", ["north"], "BYTES"),
                tensor("area", [1.0], "FP64"),
                tensor("rooms", [None], "FP64"),
            ]
        },
    )
    assert json_null.status_code == 422, json_null.text
    assert "inputs[rooms][0]: must not be missing" in json_null.json()["error"]
    as_int = await houses.post(
        V2,
        json={
            "inputs": [
                tensor("district", ["north"], "BYTES"),
                tensor("area", [1.0], "FP64"),
                tensor("rooms", [None], "INT64"),
            ]
        },
    )
    assert as_int.status_code == 400
    assert "FP16/FP32/FP64" in as_int.json()["error"]


def binary_request(tensors: list[tuple[str, np.ndarray, str]]) -> tuple[bytes, dict[str, str]]:
    import struct

    specs, blobs = [], []
    for name, array, datatype in tensors:
        if datatype == "BYTES":
            raw = b"".join(
                struct.pack("<I", len(v.encode())) + v.encode() for v in array.reshape(-1)
            )
        else:
            raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        specs.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    head = json.dumps({"inputs": specs}).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


async def test_v2_binary_nan_is_missing_where_nullable(houses: httpx.AsyncClient) -> None:
    district = np.asarray(["south", ""], dtype=object)
    body, headers = binary_request(
        [
            ("district", district, "BYTES"),
            ("area", np.asarray([math.nan, 55.0]), "FP64"),
            ("rooms", np.asarray([2.0, 5.0], dtype=np.float32), "FP32"),
        ]
    )
    r = await houses.post(V2, content=body, headers=headers)
    assert r.status_code == 200, r.text
    body, headers = binary_request(
        [
            ("district", district, "BYTES"),
            ("area", np.asarray([1.0, 55.0]), "FP64"),
            ("rooms", np.asarray([2.0, math.nan], dtype=np.float32), "FP32"),
        ]
    )
    refused = await houses.post(V2, content=body, headers=headers)
    assert refused.status_code == 422, refused.text
    assert "inputs[rooms][1]: must not be missing" in refused.json()["error"]


async def test_v2_metadata_says_which_inputs_may_be_missing(houses: httpx.AsyncClient) -> None:
    meta = (await houses.get("/v2/models/houses")).json()
    assert {i["name"]: i["parameters"]["nullable"] for i in meta["inputs"]} == {
        "district": True,
        "area": True,
        "rooms": False,
    }
    assert '""' in meta["parameters"]["missing"]
    assert meta["outputs"] == [{"name": "predictions", "datatype": "FP64", "shape": [-1]}]


async def test_null_categories_on_identical_traffic_are_no_drift(
    nullable_registered: Registered, tmp_path: Path
) -> None:
    """The training rows sent again (8 % of `district` null) must read as the same traffic:
    missing 8 % → 8 %, no unseen category, no drift. The server carries a null category as
    "" (as BYTES tensors and CSVs do); the monitor must count it as missing, not as unseen."""
    import pandas as pd

    from conveyor.monitoring.drift import Status

    frame = pd.read_csv(nullable_registered.project / "data.csv").drop(columns="price")
    settings = make_settings(
        nullable_registered.home, model_name="houses", store_url=f"sqlite:///{tmp_path / 's.db'}"
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        records = json.loads(frame.to_json(orient="records"))  # nulls as JSON null
        for start in range(0, len(records), 20):
            r = await client.post("/predict", json={"instances": records[start : start + 20]})
            assert r.status_code == 200, r.text
        v2 = await client.post(V2, json={"inputs": [
            {"name": "district", "shape": [2], "datatype": "BYTES", "data": ["", "north"]},
            {"name": "area", "shape": [2], "datatype": "FP64", "data": [70.0, 80.0]},
            {"name": "rooms", "shape": [2], "datatype": "FP64", "data": [3.0, 2.0]},
        ]})  # fmt: skip
        assert v2.status_code == 200, v2.text
        state = app.state.conveyor
        state.watcher.live.flush()
        (assessment,) = state.watcher.round()
    district = next(f for f in assessment.drift.all if f.name == "district")
    nulls = float(frame["district"].isna().mean())
    assert nulls > 0.04
    assert district.missing_share_ref == pytest.approx(nulls, abs=0.005)
    assert district.missing_share_cur == pytest.approx((nulls * len(frame) + 1) / (len(frame) + 2))
    assert district.unseen_share == 0.0, district
    assert district.status is not Status.DRIFT, district
    assert assessment.drift.status is not Status.DRIFT, assessment.drift.drifted
