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


async def test_v2_body_id_is_the_request_id_feedback_joins_on(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    import sqlalchemy as sa

    from conveyor.store.tables import feedback, inference_log

    inputs = [
        {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in wine_row.items()
    ]
    r = await wine_client.post("/v2/models/wine/infer", json={"id": "v2-order-7", "inputs": inputs})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == r.headers["x-request-id"] == "v2-order-7"
    both = await wine_client.post(
        "/v2/models/wine/infer",
        json={"id": "body-id", "inputs": inputs},
        headers={"X-Request-ID": "header-id"},
    )
    assert both.json()["id"] == both.headers["x-request-id"] == "header-id"  # the header wins
    fb = await wine_client.post("/feedback", json={"request_id": "v2-order-7", "label": 0})
    assert fb.status_code == 200, fb.text
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    state.log_writer.stop()  # flush
    with state.store.engine.connect() as conn:
        logged = set(conn.execute(sa.select(inference_log.c.request_id)).scalars())
        joined = conn.execute(
            sa.select(inference_log.c.request_id, feedback.c.label).join(
                feedback, feedback.c.request_id == inference_log.c.request_id
            )
        ).all()
    assert logged == {"v2-order-7", "header-id"}
    assert [tuple(row) for row in joined] == [("v2-order-7", 0)]


async def test_v2_body_id_that_cannot_be_an_id_is_refused(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    inputs = [
        {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in wine_row.items()
    ]
    for bad in ("two words", "x" * 101, 7):
        r = await wine_client.post("/v2/models/wine/infer", json={"id": bad, "inputs": inputs})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"].startswith("invalid request: id: must be 1-100 characters")


async def test_v2_rows_over_the_cap_are_413_before_reading_data(
    wine_client: httpx.AsyncClient,
) -> None:
    limit = wine_client.app.state.conveyor.settings.max_request_rows  # type: ignore[attr-defined]
    shape = [limit + 1, 13]
    r = await wine_client.post(
        "/v2/models/wine/infer",
        json={"inputs": [{"name": "input-0", "shape": shape, "datatype": "FP64", "data": [0.0]}]},
    )
    assert r.status_code == 413, r.text
    assert "CONVEYOR_MAX_REQUEST_ROWS" in r.json()["error"]
    wide = await wine_client.post(
        "/v2/models/wine/infer",
        json={
            "inputs": [{"name": "alcohol", "shape": [1, 10**12], "datatype": "FP64", "data": []}]
        },
    )
    assert wide.status_code == 413, wide.text
    # NaN sends the body through Python's parser, which reads integers of any size
    huge = await wine_client.post(
        "/v2/models/wine/infer",
        content=b'{"inputs": [{"name": "alcohol", "shape": [2], "datatype": "FP64", "data": [1'
        + b"0" * 400
        + b", NaN]}]}",
    )
    assert huge.status_code == 400, huge.text
    assert "inputs[alcohol]" in huge.json()["error"]
