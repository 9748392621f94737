"""The Open Inference Protocol against a real `conveyor serve`, spoken by tritonclient."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.serving.conftest import Registered
from tests.serving.server import Server, running_server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(wine_server: Server) -> Server:
    return wine_server


@pytest.fixture(scope="module")
def wine_matrix() -> np.ndarray:
    from sklearn.datasets import load_wine

    x, _ = load_wine(return_X_y=True)
    return x[:5]


def triton(server: Server):
    import tritonclient.http as httpclient

    return httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")


def test_triton_health_and_metadata(server: Server) -> None:
    client = triton(server)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("wine")
    assert client.is_model_ready("wine", "1")
    meta = client.get_model_metadata("wine")
    assert meta["name"] == "wine" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]][:2] == ["alcohol", "malic_acid"]
    assert {o["name"] for o in meta["outputs"]} == {"predictions", "probabilities"}
    assert client.get_server_metadata()["name"] == "conveyor"


@pytest.mark.parametrize("binary", [True, False])
def test_triton_infer_matrix(server: Server, wine_matrix: np.ndarray, binary: bool) -> None:
    import tritonclient.http as httpclient

    client = triton(server)
    tensor = httpclient.InferInput("input-0", list(wine_matrix.shape), "FP32")
    tensor.set_data_from_numpy(wine_matrix.astype(np.float32), binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("predictions", binary_data=binary),
        httpclient.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    result = client.infer("wine", [tensor], outputs=outputs)
    assert result.as_numpy("predictions").tolist() == [0, 0, 0, 0, 0]
    proba = result.as_numpy("probabilities")
    assert proba.shape == (5, 3)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_triton_infer_tensor_per_feature_default_outputs(
    server: Server, wine_matrix: np.ndarray
) -> None:
    import tritonclient.http as httpclient

    client = triton(server)
    meta = client.get_model_metadata("wine")
    inputs = []
    for j, spec in enumerate(meta["inputs"]):
        t = httpclient.InferInput(spec["name"], [len(wine_matrix)], "FP64")
        t.set_data_from_numpy(wine_matrix[:, j].astype(np.float64))
        inputs.append(t)
    result = client.infer("wine", inputs, model_version="1")  # no outputs: binary by default
    assert result.as_numpy("predictions").tolist() == [0, 0, 0, 0, 0]
    assert result.as_numpy("probabilities").shape == (5, 3)


def test_triton_sees_errors(server: Server, wine_matrix: np.ndarray) -> None:
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = triton(server)
    bad = httpclient.InferInput("input-0", [5, 4], "FP32")
    bad.set_data_from_numpy(wine_matrix[:, :4].astype(np.float32))
    with pytest.raises(InferenceServerException, match=r"must be \[N, 13\]"):
        client.infer("wine", [bad])
    with pytest.raises(InferenceServerException, match="not served here"):
        client.get_model_metadata("nope")
    good = httpclient.InferInput("input-0", list(wine_matrix.shape), "FP32")
    good.set_data_from_numpy(wine_matrix.astype(np.float32))
    with pytest.raises(InferenceServerException, match="version 9"):
        client.infer("wine", [good], model_version="9")


@pytest.fixture(scope="module")
def houses_server(nullable_registered: Registered) -> Iterator[Server]:
    with running_server(nullable_registered, "houses", "--refresh-seconds", "0") as srv:
        yield srv


@pytest.mark.parametrize("binary", [True, False])
def test_triton_regression_types_agree_with_metadata(houses_server: Server, binary: bool) -> None:
    import tritonclient.http as httpclient

    client = triton(houses_server)
    meta = client.get_model_metadata("houses")
    announced = {o["name"]: o["datatype"] for o in meta["outputs"]}
    assert announced == {"predictions": "FP64"}
    inputs = []
    for name, values, datatype in (
        ("district", np.asarray(["north", "south"], dtype=object), "BYTES"),
        ("area", np.asarray([70.0, 90.0]), "FP64"),
        ("rooms", np.asarray([2.0, 3.0]), "FP64"),
    ):
        t = httpclient.InferInput(name, [2], datatype)
        t.set_data_from_numpy(values, binary_data=binary)
        inputs.append(t)
    outputs = [httpclient.InferRequestedOutput("predictions", binary_data=binary)]
    result = client.infer("houses", inputs, outputs=outputs)
    assert result.get_output("predictions")["datatype"] == announced["predictions"]
    predictions = result.as_numpy("predictions")
    assert predictions.dtype == np.float64 and predictions.shape == (2,)
    assert predictions[1] > predictions[0]  # bigger and one more room


def test_triton_sends_missing_values(houses_server: Server) -> None:
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = triton(houses_server)

    def infer(area: np.ndarray, rooms: np.ndarray, district: np.ndarray) -> np.ndarray:
        inputs = []
        for name, values, datatype in (
            ("district", district, "BYTES"),
            ("area", area, "FP64"),
            ("rooms", rooms, "FP32"),
        ):
            t = httpclient.InferInput(name, [len(values)], datatype)
            t.set_data_from_numpy(values)  # binary: NaN travels as itself
            inputs.append(t)
        return client.infer("houses", inputs).as_numpy("predictions")

    district = np.asarray(["north", ""], dtype=object)  # "" is a missing category
    got = infer(np.asarray([np.nan, 80.0]), np.asarray([2.0, 2.0], np.float32), district)
    assert got.shape == (2,) and np.isfinite(got).all()
    with pytest.raises(
        InferenceServerException, match=r"inputs\[rooms\]\[0\]: must not be missing"
    ):
        infer(np.asarray([70.0]), np.asarray([np.nan], np.float32), district[:1])
