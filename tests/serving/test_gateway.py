"""Gateway mode: `conveyor serve wine --backend v2://...` in front of a real MLServer serving the
same fitted pipeline. Conveyor validates, identifies, logs and meters; MLServer runs the model.
Answers equal the pipeline's own; with MLServer gone, inference is a 503 naming the backend
and the server stops being ready.

MLServer runs from .venv-peers (scripts/peers-venv.sh) in its own process group (it may not
exit on SIGTERM)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conveyor.errors import UserError
from tests.needs import needs
from tests.serving.conftest import Registered, free_port
from tests.serving.server import running_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".venv-peers" / "bin"
EXPORT = ROOT / "benchmarks" / "peers" / "mlserver" / "export_model.py"
needs_peers = needs(PEERS / "mlserver", "MLServer", "scripts/peers-venv.sh")


@contextlib.contextmanager
def mlserver_serving(
    model_dir: Path, tmp_path: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A real MLServer (its own process group) serving ``model_dir`` as model ``wine``."""
    folder = tmp_path / "mlserver"
    exported = subprocess.run(
        [str(PEERS / "python"), str(EXPORT), str(model_dir), str(folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    port = free_port()
    settings = {"host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
                "metrics_port": free_port()}  # fmt: skip
    (folder / "settings.json").write_text(json.dumps(settings))
    with (tmp_path / "mlserver.log").open("wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [str(PEERS / "mlserver"), "start", str(folder)], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=folder,  # MLServer keeps its metrics in ./.metrics
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "mlserver.log").read_text()[-3000:]
            try:
                url = f"http://127.0.0.1:{port}/v2/models/wine/ready"
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "MLServer did not start"
            time.sleep(0.5)
        yield port, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own group: MLServer and its workers
            proc.wait(30)


@pytest.fixture
def mlserver(
    wine_registered: Registered, tmp_path: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    with mlserver_serving(wine_registered.model_dir("1"), tmp_path) as running:
        yield running


@needs_peers
def test_conveyor_in_front_of_mlserver(
    wine_registered: Registered, mlserver: tuple[int, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    import mlflow.sklearn
    from sklearn.datasets import load_wine

    port, proc = mlserver
    reg = wine_registered.clone(tmp_path)
    frame = load_wine(as_frame=True).frame.drop(columns="target").iloc[::10]
    expected = mlflow.sklearn.load_model(str(wine_registered.model_dir("1"))).predict(frame)
    backend = f"v2://127.0.0.1:{port}/wine"
    with running_server(reg, "wine", "--backend", backend, "--refresh-seconds", "0") as server:
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
        assert info["runtime"] == "remote"
        assert f"127.0.0.1:{port}" in info["runtime_reason"]
        rows = frame.to_dict(orient="records")
        answer = httpx.post(f"{server.url}/predict", json={"instances": rows}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [int(v) for v in expected]
        bad = httpx.post(
            f"{server.url}/predict", json={"instances": [{"alcohol": "x"}]}, timeout=30
        )
        assert bad.status_code == 422  # validated here: MLServer never sees it
        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
        assert 'route="/predict"' in metrics and 'status="200"' in metrics

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        down = httpx.post(f"{server.url}/predict", json={"instances": rows[:1]}, timeout=30)
        assert down.status_code == 503, down.text
        assert f"backend http://127.0.0.1:{port}" in down.json()["error"]
        assert "Retry-After" in down.headers
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/ready", timeout=5).status_code != 503:
            assert time.monotonic() < deadline, "still ready with the backend gone"
            time.sleep(0.2)
        ready = httpx.get(f"{server.url}/ready", timeout=5).json()
        assert any("backend is not ready" in p for p in ready["problems"])


@needs_peers
def test_a_remote_candidate_takes_part_in_a_canary(
    wine_registered: Registered, tmp_path: Path
) -> None:
    """Production (version 1) runs in-process; the candidate (version 2) runs on MLServer
    (``--backend 2=v2://...``). A canary splits the traffic between them: each arm answers as
    its own model, and with MLServer gone only the candidate's share fails (503 naming it)."""
    import mlflow.sklearn
    from sklearn.datasets import load_wine

    reg = wine_registered.clone(tmp_path)
    frame = load_wine(as_frame=True).frame.drop(columns="target")
    expected = {
        v: mlflow.sklearn.load_model(str(wine_registered.model_dir(v))).predict(frame)
        for v in ("1", "2")
    }
    assert (expected["1"] != expected["2"]).any()  # the arms can be told apart by their answers
    env = {"CONVEYOR_ROLLOUT_POLL_SECONDS": "0.5", "CONVEYOR_ROLLOUT_CONTROLLER_SECONDS": "0.5"}
    with (
        mlserver_serving(wine_registered.model_dir("2"), tmp_path) as (port, proc),
        running_server(
            reg, "wine", "--backend", f"2=v2://127.0.0.1:{port}/wine", "--refresh-seconds", "0",
            env=env,
        ) as server,
    ):  # fmt: skip
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
        assert (info["version"], info["runtime"]) == ("1", "onnx") and "candidate" not in info
        reg.conveyor("rollout", "start", "wine", "2", "--strategy", "canary", "--steps",
                     "50,100", "--step-seconds", "600")  # fmt: skip
        deadline = time.monotonic() + 60
        while "candidate" not in info:
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.3)
            info = httpx.get(f"{server.url}/model/info", timeout=5).json()
        assert info["candidate"]["version"] == "2"
        assert info["candidate"]["runtime"] == "remote"
        assert f"127.0.0.1:{port}" in info["candidate"]["runtime_reason"]

        rows = frame.to_dict(orient="records")
        served = {"1": 0, "2": 0}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i, row in enumerate(rows[:80]):
                answer = client.post("/predict", json={"instances": [row]})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                version = body["model"]["version"]
                served[version] += 1
                assert body["predictions"] == [int(expected[version][i])], (i, version)
            assert served["1"] >= 15 and served["2"] >= 15, served

            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            statuses = {200: 0, 503: 0}
            for row in rows[80:120]:
                answer = client.post("/predict", json={"instances": [row]})
                assert answer.status_code in statuses, answer.text
                statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    assert answer.json()["model"]["version"] == "1"
                else:
                    assert f"backend http://127.0.0.1:{port}" in answer.json()["error"]
            assert statuses[200] >= 5, statuses  # production, in-process, is untouched


def test_a_bad_backend_url_is_refused_in_one_line(wine_registered: Registered) -> None:
    from tests.serving.conftest import BIN

    done = subprocess.run(
        [str(BIN / "conveyor"), "serve", "wine", "--backend", "http://x:1", "--port",
         str(free_port())],
        env=wine_registered.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--backend 'http://x:1': v2://HOST:PORT[/MODEL]" in done.stderr


def test_backend_urls_name_a_model_per_version() -> None:
    from conveyor.serving.remote import Backend

    plain = Backend.parse("v2://triton:8000")
    assert (plain.base, plain.model_for("wine", "3")) == ("http://triton:8000", "wine")
    table = Backend.table("3=v2://mlserver:8080/wine, v2://triton:8000")
    assert Backend.for_version("3=v2://mlserver:8080/wine", "2") is None  # in-process
    assert table["3"].base == "http://mlserver:8080" and table[None].base == "http://triton:8000"
    with pytest.raises(UserError, match="a second backend for version 3"):
        Backend.table("3=v2://a:1,3=v2://b:2")
    with pytest.raises(UserError, match="v2://HOST:PORT"):
        Backend.table("3=http://a:1")
    per_version = Backend.parse("v2s://seldon-mesh:443/wine-v{version}")
    assert per_version.base == "https://seldon-mesh:443"
    assert per_version.model_for("wine", "3") == "wine-v3"
    assert per_version.model_for("wine", "4") == "wine-v4"
