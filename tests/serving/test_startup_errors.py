"""`conveyor serve` that cannot start says why in one line, exits 2 for bad input and 1 for
an unavailable service, prints no "serving ..." banner, and creates nothing on the way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.conftest import BIN, Registered, free_port

pytestmark = pytest.mark.integration


def serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "conveyor"), "serve", *args, "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    output = (proc.stdout + proc.stderr).strip()
    assert "Traceback" not in output
    assert "serving" not in output.split(":", 1)[0]  # no banner
    assert len(output.splitlines()) == 1, output
    return output


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    return env | {"CONVEYOR_HOME": str(home)}


def test_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    proc = serve(clean_env(tmp_path / "home"), "--model-path", "/etc")
    assert proc.returncode == 2
    assert "/etc is not an MLflow model directory" in one_line(proc)


def test_an_empty_home_has_no_registry_and_gets_none(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = serve(clean_env(home), "wine")
    assert proc.returncode == 1
    assert f"no MLflow registry at {home / 'mlflow.db'}" in one_line(proc)
    assert not (home / "mlflow.db").exists()


def test_a_model_that_is_not_registered(wine_registered: Registered) -> None:
    proc = serve(wine_registered.env(), "nosuch")
    assert proc.returncode == 2
    assert "nosuch" in one_line(proc)


def test_a_failure_inside_the_server_start_is_one_line(tmp_path: Path) -> None:
    """The app's own start-up (as uvicorn runs it in a container, without the CLI's check)."""
    env = clean_env(tmp_path / "home") | {"CONVEYOR_MODEL_PATH": "/etc"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "conveyor.serving.app:app_from_env",
            "--factory",
            "--port",
            str(free_port()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3  # uvicorn's own exit for a failed start
    output = proc.stdout + proc.stderr
    assert "cannot start: /etc is not an MLflow model directory" in output
    assert "Traceback" not in output
