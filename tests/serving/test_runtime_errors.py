"""ONNX Runtime's errors reach clients as Conveyor's: a real ONNX graph that fails on some
inputs (a table lookup indexed by a feature) gives 422 for the request that caused it only."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import pytest_asyncio

from conveyor.bundle.sources import LocalSource
from conveyor.errors import RuntimeFailure
from conveyor.serving.app import create_app
from tests.serving.conftest import Registered, make_settings

TABLE_SIZE = 20  # alcohol (11-15 in the wine data) indexes a table of 20: 100 is out of range


def lookup_graph(names: list[str]) -> bytes:
    """Class 0 for every row, by looking alcohol up in a table: a Gather that ONNX Runtime
    refuses (INVALID_ARGUMENT) for an index outside the table."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.zeros(TABLE_SIZE, np.float32), "table"),
        numpy_helper.from_array(np.asarray([-1], np.int64), "flat"),
        numpy_helper.from_array(np.asarray([1.0], np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Cast", [names[0]], ["index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "index"], ["looked_up"], axis=0),
        helper.make_node("Reshape", ["looked_up", "flat"], ["zeros"]),
        helper.make_node("Cast", ["zeros"], ["label"], to=TensorProto.INT64),
        helper.make_node("Add", ["looked_up", "one"], ["ones"]),
        helper.make_node("Concat", ["ones", "looked_up", "looked_up"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "lookup",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in names],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def model_copy(wine_registered: Registered, into: Path, onnx_bytes: bytes) -> Path:
    target = into / "lookup"
    shutil.copytree(wine_registered.model_dir("1"), target)
    extra = target / "extra_files"
    (extra / "model.onnx").write_bytes(onnx_bytes)
    return target


@pytest_asyncio.fixture
async def lookup_client(
    wine_registered: Registered, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    names = json.loads(
        (wine_registered.model_dir("1") / "extra_files" / "onnx_inputs.json").read_text()
    )
    assert names[0] == "alcohol"
    path = model_copy(wine_registered, tmp_path, lookup_graph(names))
    settings = make_settings(tmp_path / "home", store_url=f"sqlite:///{tmp_path / 'store.db'}")
    app = create_app(settings, LocalSource(path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def test_values_the_model_refuses_are_422(
    lookup_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    ok = await lookup_client.post("/predict", json={"instances": [wine_row]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["predictions"] == [0]
    r = await lookup_client.post("/predict", json={"instances": [dict(wine_row, alcohol=100.0)]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"] == "ModelInputError"
    assert body["error"].startswith("the model cannot score this input: ")
    assert "indices element out of data bounds" in body["error"]
    assert r.headers["x-request-id"] == body["request_id"]


async def test_a_refused_request_fails_alone_in_a_merged_batch(
    lookup_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    bad = {"instances": [dict(wine_row, alcohol=100.0)]}
    good = {"instances": [wine_row]}
    bodies = [good] * 4 + [bad] + [good] * 4
    answers = await asyncio.gather(*(lookup_client.post("/predict", json=b) for b in bodies))
    assert [a.status_code for a in answers] == [200] * 4 + [422] + [200] * 4
    metrics = (await lookup_client.get("/metrics")).text
    rows = float(re.search(r"conveyor_batch_rows_sum\{[^}]*\} (\S+)", metrics).group(1))  # type: ignore[union-attr]
    # more rows went through the runtime than were sent: a merged batch failed and its
    # requests ran again one by one
    assert rows > len(bodies)


async def test_a_model_the_runtime_cannot_load_is_a_runtime_failure(
    wine_registered: Registered, tmp_path: Path
) -> None:
    path = model_copy(wine_registered, tmp_path, b"not an onnx graph")
    settings = make_settings(tmp_path / "home", store_url=f"sqlite:///{tmp_path / 'store.db'}")
    app = create_app(settings, LocalSource(path))
    with pytest.raises(RuntimeFailure, match=r"the onnx runtime failed loading .*model\.onnx"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_failed_answer_is_a_row_of_the_inference_log(
    wine_registered: Registered, tmp_path: Path, wine_row: dict[str, float]
) -> None:
    """Every call of a version is a row, failed answers too (as failed mirrored copies are):
    a rollout's error check must see the failures of whichever arm answers live."""
    import sqlalchemy as sa

    from conveyor.store import Store
    from conveyor.store.tables import inference_log

    names = json.loads(
        (wine_registered.model_dir("1") / "extra_files" / "onnx_inputs.json").read_text()
    )
    path = model_copy(wine_registered, tmp_path, lookup_graph(names))
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    app = create_app(make_settings(tmp_path / "home", store_url=store_url), LocalSource(path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        ok = await client.post("/predict", json={"instances": [wine_row]})
        bad = await client.post("/predict", json={"instances": [dict(wine_row, alcohol=100.0)]})
    assert (ok.status_code, bad.status_code) == (200, 422)
    store = Store(store_url).open()
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(inference_log.c.request_id, inference_log.c.status))
        logged = {str(r.request_id): int(r.status) for r in found}
    store.close()
    assert logged == {ok.json()["request_id"]: 200, bad.json()["request_id"]: 422}
