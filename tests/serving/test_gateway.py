"""Gateway mode: `conveyor serve wine --backend v2://...` in front of a real MLServer serving the
same fitted pipeline. Conveyor validates, identifies, logs and meters; MLServer runs the model.
Answers equal the pipeline's own; with MLServer gone, inference is a 503 naming the backend
and the server stops being ready.

MLServer runs from .venv-peers (scripts/peers-venv.sh) in its own process group (it may not
exit on SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import Registered, free_port
from tests.serving.server import running_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".venv-peers" / "bin"
EXPORT = ROOT / "benchmarks" / "peers" / "mlserver" / "export_model.py"
needs_peers = pytest.mark.skipif(
    not (PEERS / "mlserver").exists(), reason="MLServer not installed (scripts/peers-venv.sh)"
)


@pytest.fixture
def mlserver(
    wine_registered: Registered, tmp_path: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    folder = tmp_path / "mlserver"
    exported = subprocess.run(
        [str(PEERS / "python"), str(EXPORT), str(wine_registered.model_dir("1")), str(folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    port = free_port()
    settings = {"host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
                "metrics_port": free_port()}  # fmt: skip
    (folder / "settings.json").write_text(json.dumps(settings))
    log = (tmp_path / "mlserver.log").open("wb")
    proc = subprocess.Popen(
        [str(PEERS / "mlserver"), "start", str(folder)], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
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
    per_version = Backend.parse("v2s://seldon-mesh:443/wine-v{version}")
    assert per_version.base == "https://seldon-mesh:443"
    assert per_version.model_for("wine", "3") == "wine-v3"
    assert per_version.model_for("wine", "4") == "wine-v4"
