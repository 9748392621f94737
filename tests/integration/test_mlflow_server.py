"""`conveyor` against a real `mlflow server` (SQLite backend, proxied artifacts) started as a
subprocess, and the clear failure when the tracking server is not there."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent
STARTUP_DEADLINE_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server by its own PID; its uvicorn child shares the PID's process group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this Popen created, nothing else
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on a free loopback port; yields its URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(root / "artifacts"),
                "--serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy in {STARTUP_DEADLINE_S}s")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.25)  # returns early only if the server died
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch, home: Path, mlflow_server: str) -> str:
    monkeypatch.setenv("CONVEYOR_TRACKING_URI", mlflow_server)
    return mlflow_server


def test_run_promote_run_on_tracking_server(
    cli: Callable, wine_project: Callable, remote: str, home: Path
) -> None:
    # each test has its own home (store), so give the shared server its own model name
    project = wine_project(name="wine-remote")
    first = cli("run", "--project", str(project), "--json")
    assert first.exit_code == 0, first.stderr + first.stdout
    info = first.json()
    assert info["registered_version"] == "1"
    assert info["semver"] == "1.0.0"
    assert info["runtime"] == "onnx"
    # artifacts went through the server's proxy, not to a local path
    assert info["model_uri"].startswith("models:/")
    assert not (home / "artifacts").exists()
    assert not (home / "mlflow.db").exists()

    shown = cli("models", "show", "wine-remote", "1", "--json").json()
    assert shown["stage"] == "staging"
    assert shown["aliases"] == ["staging"]
    assert shown["run_id"] == info["run_id"]

    promoted = cli("promote", "wine-remote", "1", "--to", "production", "--reason", "first")
    assert promoted.exit_code == 0, promoted.stderr

    second = cli("run", "--project", str(project), "--json")
    assert second.exit_code == 0, second.stderr + second.stdout
    out = second.json()
    assert out["registered_version"] == "2"
    assert out["semver"] == "1.0.1"  # same data, same params; read back via the server
    gates = {g["name"]: g["outcome"] for g in out["gates"]["gates"]}
    assert gates["champion (f1_macro)"] == "passed"  # champion bundle downloaded via proxy
    assert gates["schema compatibility"] == "passed"

    versions = {v["version"]: v for v in cli("models", "show", "wine-remote", "--json").json()}
    assert set(versions) == {"1", "2"}
    assert versions["1"]["stage"] == "production"
    assert versions["1"]["aliases"] == ["production"]
    assert versions["2"]["stage"] == "staging"
    assert versions["2"]["aliases"] == ["staging"]
    assert versions["2"]["semver"] == "1.0.1"

    listed = cli("models", "list", "--json").json()
    entry = next(m for m in listed if m["name"] == "wine-remote")
    assert (entry["latest_version"], entry["production"], entry["staging"]) == ("2", "1", "2")

    history = cli("models", "history", "wine-remote", "--json").json()
    actions = [(e["version"], e["action"], e["from_stage"], e["to_stage"]) for e in history]
    assert actions == [
        ("1", "register", None, "staging"),
        ("1", "promote", "staging", "production"),
        ("2", "register", None, "staging"),
    ]


def test_onnx_artifact_is_served(
    cli: Callable, wine_project: Callable, remote: str, tmp_path: Path
) -> None:
    """The ONNX file logged through the proxy can be downloaded again by a client."""
    import mlflow

    project = wine_project(name="wine-artifacts")
    result = cli("run", "--project", str(project), "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    version = result.json()["registered_version"]
    local = mlflow.artifacts.download_artifacts(
        f"models:/wine-artifacts/{version}/extra_files/model.onnx",
        dst_path=str(tmp_path / "dl"),
        tracking_uri=remote,
    )
    data = Path(local).read_bytes()
    assert len(data) > 100
    import onnx

    assert onnx.load_from_string(data).graph.input


def test_unreachable_tracking_server_fails_fast_and_clearly(
    cli: Callable, wine_project: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # bound then released: nothing listens there
    monkeypatch.setenv("CONVEYOR_TRACKING_URI", f"http://127.0.0.1:{port}")
    project = wine_project()
    start = time.monotonic()
    result = cli("run", "--project", str(project))
    elapsed = time.monotonic() - start
    assert result.exit_code == 1, result.stderr + result.stdout
    assert elapsed < 15, elapsed
    assert "unreachable" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "run_info.json").exists()


def test_unreachable_tracking_server_in_a_real_process(home: Path, wine_project: Callable) -> None:
    """The installed entry point, start to finish: exit 1, one message, no traceback."""
    port = free_port()
    env = dict(
        os.environ, CONVEYOR_HOME=str(home), CONVEYOR_TRACKING_URI=f"http://127.0.0.1:{port}"
    )
    start = time.monotonic()
    proc = subprocess.run(
        [str(VENV_BIN / "conveyor"), "models", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert elapsed < 15, elapsed
    assert "unreachable" in proc.stdout  # --json puts the error on stdout
    assert "Traceback" not in proc.stderr
