"""The README's "Bring your own model" commands, run as written: a registry that plain MLflow
filled (two versions of an iris classifier with string labels, logged with a signature and an
input example) is listed, adopted under the project's gates, promoted, served (the `curl` runs
too), gated, rolled out, and served with the candidate's backend named. Lines ending in `&`
start a server (on a free port instead of 8000, stopped when the next one starts or the test
ends); every other line must exit 0."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.procs import CONVEYOR, Processes
from tests.serving.conftest import free_port

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"

REGISTER = textwrap.dedent(
    """
    import mlflow, pandas as pd
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier

    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    frame = pd.read_csv("train.csv")
    X, y = frame.drop(columns="species"), frame["species"]
    with mlflow.start_run():
        for seed in (0, 1):
            model = RandomForestClassifier(n_estimators=20, random_state=seed).fit(X, y)
            mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(X, model.predict(X)),
                input_example=X.head(5), registered_model_name="iris",
                pip_requirements=["scikit-learn"], skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
    """
)
PROJECT = """\
name: iris
task: classification
data: {source: train.csv, target: species}
model: {estimator: sklearn.ensemble.RandomForestClassifier}
gates: {min: {accuracy: 0.8}}
"""


def readme_commands() -> list[str]:
    """The section's bash block, one command per entry (continuations joined)."""
    section = README.read_text().split("## Bring your own model", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands, pending = [], ""
    for line in block.splitlines():
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append(line)
    return commands


def test_the_bring_your_own_model_commands_work_as_written(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.data.set_axis(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1
    )
    frame["species"] = data.target_names[data.target]
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.sample(60, random_state=0).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "conveyor.yaml").write_text(PROJECT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", REGISTER], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    commands = readme_commands()
    assert sum(c.startswith("conveyor ") for c in commands) >= 7, commands
    procs = Processes()
    port = 0
    try:
        for command in commands:
            words = shlex.split(command, comments=True)
            if words[0] == "export":
                key, _, value = words[1].partition("=")
                env[key] = value
            elif words[-1] == "&" or "--backend" in words:  # a server
                procs.stop_all()
                port = free_port()
                args = [w for w in words if w != "&"]
                server = procs.start([CONVEYOR, *args[1:], "--port", str(port)], env, tmp_path)
                _wait_ready(server, port, command)
                info = httpx.get(f"http://127.0.0.1:{port}/model/info", timeout=5).json()
                assert (info["version"], info["runtime"]) == ("1", "onnx"), info
            elif words[0] == "curl":
                args = [w.replace("localhost:8000", f"127.0.0.1:{port}") for w in words]
                answer = subprocess.run(args, capture_output=True, text=True, timeout=30)
                assert answer.returncode == 0, answer.stderr
                assert json.loads(answer.stdout) == {"predictions": ["setosa"]}, answer.stdout
            else:
                assert words[0] == "conveyor", command
                ran = subprocess.run(
                    [CONVEYOR, *words[1:]], cwd=tmp_path, env=env, capture_output=True,
                    text=True, timeout=300,
                )  # fmt: skip
                assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"
    finally:
        procs.stop_all()
    shown = subprocess.run(
        [CONVEYOR, "models", "show", "iris", "2", "--json"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    tags = json.loads(shown.stdout)["tags"]
    assert tags["conveyor.gates"] == "2 passed"  # accuracy, and the champion: production 1
    gates = {g["name"]: g["detail"] for g in json.loads(tags["conveyor.gate_report"])["gates"]}
    assert "vs production v1" in gates["champion (f1_macro)"]


def _wait_ready(server: subprocess.Popen[str], port: int, command: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, (
            f"{command}: exited\n{server.stderr.read() if server.stderr else ''}"
        )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{command}: not ready"
        time.sleep(0.3)
