"""MLflow's scoring protocol on a real `conveyor serve`: MLflow's own ScoringServerClient works
unchanged, and every body shape from MLflow's docs gets the same answer as a real
`mlflow models serve` of the same registered version; bad bodies get MLflow-shaped 4xx
errors naming the field; the calls are metered as inference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.serving.conftest import Registered, free_port
from tests.serving.server import Server, stop

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.drop(columns="target")
    return frame.iloc[::25].reset_index(drop=True)  # 8 rows across the classes


@pytest.fixture(scope="module")
def home(wine_registered: Registered, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    return wine_registered.clone(tmp_path_factory.mktemp("invocations"))


@pytest.fixture
def conveyor(wine_server: Server) -> Server:
    return wine_server


@pytest.fixture(scope="module")
def mlflow_serve(home: Registered) -> Iterator[str]:
    """`mlflow models serve` of the same version, from the same registry."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{home.home / 'mlflow.db'}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # its uvicorn
    with (home.home.parent / "mlflow-serve.log").open("w") as log:  # the child keeps its own
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/wine/1",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (home.home.parent / "mlflow-serve.log").read_text()
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not start"
            time.sleep(0.3)
        yield url
    finally:
        stop(proc)


def test_mlflows_own_client_works_unchanged(conveyor: Server, rows: pd.DataFrame) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    client = ScoringServerClient("127.0.0.1", conveyor.port)
    client.wait_server_ready(timeout=30)
    answer = client.invoke(rows)
    predictions = answer.get_predictions(predictions_format="ndarray")
    assert len(predictions) == len(rows)
    assert client.get_version()  # MLflow's version string


def bodies(rows: pd.DataFrame) -> dict[str, tuple[str, bytes]]:
    """The request shapes MLflow's docs show, for the same rows."""
    split = json.loads(rows.to_json(orient="split", index=False))
    records = rows.to_dict(orient="records")
    return {
        "dataframe_split": ("application/json", json.dumps({"dataframe_split": split}).encode()),
        "dataframe_records": (
            "application/json", json.dumps({"dataframe_records": records}).encode()
        ),
        "instances": ("application/json", json.dumps({"instances": records}).encode()),
        "inputs": ("application/json", json.dumps({"inputs": records}).encode()),
        "inputs as columns": (
            "application/json", json.dumps({"inputs": rows.to_dict(orient="list")}).encode()
        ),
        "with params": (
            "application/json", json.dumps({"dataframe_split": split, "params": {}}).encode()
        ),
        "csv": ("text/csv", rows.to_csv(index=False).encode()),
    }  # fmt: skip


def test_every_body_shape_answers_as_mlflow_models_serve_does(
    conveyor: Server, mlflow_serve: str, rows: pd.DataFrame
) -> None:
    for shape, (content_type, body) in bodies(rows).items():
        ours = httpx.post(
            f"{conveyor.url}/invocations", content=body,
            headers={"Content-Type": content_type}, timeout=30,
        )  # fmt: skip
        theirs = httpx.post(
            f"{mlflow_serve}/invocations", content=body,
            headers={"Content-Type": content_type}, timeout=30,
        )  # fmt: skip
        assert theirs.status_code == 200, (shape, theirs.text)
        assert ours.status_code == 200, (shape, ours.text)
        assert ours.json() == theirs.json(), shape


@pytest.mark.parametrize(
    ("content_type", "body", "status", "where"),
    [
        ("application/json", b'{"dataframe_split": {"columns": ["alcohol"], "data": [[1, 2]]}}',
         400, "dataframe_split.data[0]"),
        ("application/json", b'{"dataframe_records": [{"alcohol": "x"}]}', 422,
         "dataframe_records[0]"),
        ("application/json", b'{"instances": [], "inputs": []}', 400, "body"),
        ("application/json", b'{"rows": []}', 400, "body"),
        ("application/xml", b"<rows/>", 415, "Content-Type"),
    ],
)  # fmt: skip
def test_bad_bodies_get_mlflow_shaped_errors_naming_the_field(
    conveyor: Server, content_type: str, body: bytes, status: int, where: str
) -> None:
    r = httpx.post(
        f"{conveyor.url}/invocations", content=body, headers={"Content-Type": content_type},
        timeout=30,
    )  # fmt: skip
    assert r.status_code == status, r.text
    answer: dict[str, Any] = r.json()
    assert answer["error_code"] == "BAD_REQUEST"
    assert answer["message"]
    assert any(p["loc"].startswith(where) for p in answer["problems"]), answer


def test_a_bad_csv_value_is_named_by_row_and_column(conveyor: Server, rows: pd.DataFrame) -> None:
    bad = rows.head(2).astype(object)
    bad.loc[1, "alcohol"] = "thirteen"
    r = httpx.post(
        f"{conveyor.url}/invocations", content=bad.to_csv(index=False).encode(),
        headers={"Content-Type": "text/csv"}, timeout=30,
    )  # fmt: skip
    assert r.status_code == 422, r.text
    (problem,) = r.json()["problems"]
    assert problem["loc"] == "csv[1].alcohol" and "must be a number" in problem["msg"]


def test_invocations_are_metered_as_inference(conveyor: Server, rows: pd.DataFrame) -> None:
    content_type, body = bodies(rows)["dataframe_split"]
    for _ in range(3):
        r = httpx.post(
            f"{conveyor.url}/invocations", content=body,
            headers={"Content-Type": content_type}, timeout=30,
        )  # fmt: skip
        assert r.status_code == 200
    metrics = httpx.get(f"{conveyor.url}/metrics", timeout=10).text
    line = next(
        m for m in metrics.splitlines()
        if m.startswith("conveyor_requests_total{") and 'route="/invocations"' in m
        and 'status="200"' in m
    )  # fmt: skip
    assert float(line.split()[-1]) >= 3
    assert 'conveyor_request_duration_seconds_count{model="wine",route="/invocations"}' in metrics
