"""Open Inference Protocol decoding edge cases, in process: binary framing, shapes, names."""

from __future__ import annotations

import json

import httpx
import numpy as np


def binary_request(matrix: np.ndarray, name: str = "input-0") -> tuple[bytes, dict[str, str]]:
    raw = matrix.astype("<f4").tobytes()
    header = {
        "inputs": [
            {
                "name": name,
                "shape": list(matrix.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "outputs": [{"name": "predictions", "parameters": {"binary_data": True}}],
    }
    head = json.dumps(header).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}


async def test_binary_in_binary_out(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    matrix = np.asarray([list(wine_row.values())] * 3)
    body, headers = binary_request(matrix)
    r = await wine_client.post("/v2/models/wine/infer", content=body, headers=headers)
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:n])
    out = head["outputs"][0]
    assert out["name"] == "predictions" and out["datatype"] == "INT64" and out["shape"] == [3]
    assert np.frombuffer(r.content[n:], dtype="<i8").tolist() == [0, 0, 0]


async def test_non_finite_cell_is_named(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    matrix = np.asarray([list(wine_row.values())] * 2)
    matrix[1, 4] = np.inf
    body, headers = binary_request(matrix)
    r = await wine_client.post("/v2/models/wine/infer", content=body, headers=headers)
    assert r.status_code == 422
    assert set(r.json()) == {"error"}
    assert "inputs[input-0][1][4]" in r.json()["error"]


async def test_binary_size_mismatch_is_400(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    body, headers = binary_request(np.asarray([list(wine_row.values())]))
    r = await wine_client.post("/v2/models/wine/infer", content=body[:-4], headers=headers)
    assert r.status_code == 400
    assert "binary" in r.json()["error"]


async def test_per_feature_tensors_name_missing_and_unknown(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    inputs = [
        {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in wine_row.items()
    ]
    ok = await wine_client.post("/v2/models/wine/infer", json={"inputs": inputs})
    assert ok.status_code == 200
    assert ok.json()["outputs"][0]["data"] == [0]
    bad = [*inputs[1:], {"name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"]}]
    r = await wine_client.post("/v2/models/wine/infer", json={"inputs": bad})
    assert r.status_code == 422
    assert "inputs[colour]: unknown feature" in r.json()["error"]
    r = await wine_client.post("/v2/models/wine/infer", json={"inputs": inputs[1:]})
    assert "inputs[alcohol]: missing feature" in r.json()["error"]
