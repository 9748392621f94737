"""Models registered with plain MLflow (never through `conveyor run`) are served: inputs checked
against the MLflow signature, answers from the model's own pyfunc equal to MLflow's, and
/model/info says which runtime and why. A model without a signature is refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import BIN, Registered, free_port
from tests.serving.server import Server, running_server

pytestmark = pytest.mark.integration

# what a team's own training code does: log and register, set the alias
REGISTER = textwrap.dedent(
    """
    import sys
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier
    from lightgbm import LGBMClassifier

    mlflow.set_tracking_uri(sys.argv[1])
    X, y = load_iris(return_X_y=True, as_frame=True)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input["x"] * 2 + model_input["flag"].astype(float)

    frame = pd.DataFrame({"x": [1.0, 2.5], "flag": [True, False]})
    stump = DecisionTreeClassifier(max_depth=1).fit(X, y)  # version 2: a poor model
    other = RandomForestClassifier(n_estimators=20, random_state=1).fit(X, y)  # 3: a good one
    with mlflow.start_run():
        for model in (forest, stump, other):
            mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(X, model.predict(X)),
                registered_model_name="iris_byo", pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        mlflow.sklearn.log_model(  # with an input example: converted to ONNX at load
            forest, name="example", signature=infer_signature(X, forest.predict(X)),
            input_example=X.head(5), registered_model_name="iris_example",
            pip_requirements=["scikit-learn"], skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        booster = LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
        mlflow.lightgbm.log_model(  # LightGBM's own flavor: converted through onnxmltools
            booster, name="lgbm", signature=infer_signature(X, booster.predict(X)),
            input_example=X.head(5), registered_model_name="iris_lgbm",
            pip_requirements=["lightgbm"],
        )
        mlflow.pyfunc.log_model(
            name="doubler", python_model=Doubler(), registered_model_name="doubler",
            signature=infer_signature(frame, Doubler().predict(None, frame)),
            pip_requirements=["pandas"],
        )
        mlflow.sklearn.log_model(
            forest, name="unsigned", registered_model_name="unsigned",
            pip_requirements=["scikit-learn"], skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        for _ in range(2):  # a registry from before aliases: stages only
            mlflow.pyfunc.log_model(
                name="legacy", python_model=Doubler(), registered_model_name="legacy",
                signature=infer_signature(frame, Doubler().predict(None, frame)),
                pip_requirements=["pandas"],
            )
    client = mlflow.MlflowClient()
    for name in ("iris_byo", "iris_example", "iris_lgbm", "doubler", "unsigned"):
        client.set_registered_model_alias(name, "production", "1")
    client.transition_model_version_stage("legacy", "1", "Production")
    """
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    root = tmp_path_factory.mktemp("byo")
    reg = Registered(root / "home", root, "iris_byo")
    reg.home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", REGISTER, f"sqlite:///{reg.home / 'mlflow.db'}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return reg


@pytest.fixture(scope="module")
def iris(registry: Registered) -> Iterator[Server]:
    with running_server(registry, "iris_byo", "--refresh-seconds", "0") as server:
        yield server


def mlflow_predict(registry: Registered, name: str, rows: list[dict[str, Any]]) -> list[Any]:
    import mlflow
    import pandas as pd

    uri = f"sqlite:///{registry.home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}@production")
    return list(pd.Series(model.predict(pd.DataFrame(rows))).tolist())


def test_a_plain_mlflow_sklearn_model_is_served_as_mlflow_would(
    registry: Registered, iris: Server
) -> None:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.drop(columns="target")
    rows = frame.iloc[::15].to_dict(orient="records")
    info = httpx.get(f"{iris.url}/model/info", timeout=5).json()
    assert (info["name"], info["version"], info["runtime"]) == ("iris_byo", "1", "pyfunc")
    assert "without Conveyor's bundle" in info["runtime_reason"]
    assert "logged without an input example" in info["runtime_reason"]
    assert [f["name"] for f in info["schema"]["features"]] == list(frame.columns)
    ours = httpx.post(f"{iris.url}/predict", json={"instances": rows}, timeout=10).json()
    invoked = httpx.post(
        f"{iris.url}/invocations", json={"dataframe_records": rows}, timeout=10
    ).json()
    expected = mlflow_predict(registry, "iris_byo", rows)
    assert ours["predictions"] == invoked["predictions"] == expected


@pytest.mark.parametrize(
    ("name", "flavor"), [("iris_example", "sklearn"), ("iris_lgbm", "lightgbm")]
)
def test_a_model_logged_with_an_input_example_is_converted_to_onnx_at_load(
    registry: Registered, name: str, flavor: str
) -> None:
    """The model converts (one [N, F] input: a bare forest, or LightGBM's classifier logged
    with its own flavor), the graph is checked against the model on its input example widened
    to 200 rows, and it serves every iris row as MLflow's own pyfunc does."""
    from sklearn.datasets import load_iris

    rows = load_iris(as_frame=True).frame.drop(columns="target").to_dict(orient="records")
    with running_server(registry, name, "--refresh-seconds", "0") as server:
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
        answer = httpx.post(f"{server.url}/predict", json={"instances": rows}, timeout=10)
    assert info["runtime"] == "onnx", info["runtime_reason"]
    assert f"its {flavor} model converted to ONNX at load" in info["runtime_reason"]
    assert "on 200 rows from its input example" in info["runtime_reason"]
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == mlflow_predict(registry, name, rows)


def test_tritonclient_speaks_to_it(registry: Registered, iris: Server) -> None:
    """The Open Inference Protocol for a plain MLflow model: metadata from its signature, and
    one binary [N, F] tensor from tritonclient answered as MLflow's pyfunc answers."""
    import numpy as np
    import tritonclient.http as httpclient
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.drop(columns="target").iloc[::10]
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{iris.port}")
    meta = client.get_model_metadata("iris_byo")
    assert [i["name"] for i in meta["inputs"]] == list(frame.columns)
    tensor = httpclient.InferInput("input-0", list(frame.shape), "FP32")
    tensor.set_data_from_numpy(frame.to_numpy(np.float32), binary_data=True)
    result = client.infer("iris_byo", [tensor])
    expected = mlflow_predict(registry, "iris_byo", frame.to_dict(orient="records"))
    assert result.as_numpy("predictions").tolist() == expected


def test_its_inputs_are_checked_against_the_signature(iris: Server) -> None:
    bad = {"instances": [{"sepal length (cm)": "long", "sepal width (cm)": 3.0}]}
    r = httpx.post(f"{iris.url}/predict", json=bad, timeout=10)
    assert r.status_code == 422, r.text
    where = {p["loc"] for p in r.json()["problems"]}
    assert "instances[0].petal length (cm)" in where  # missing
    r = httpx.post(
        f"{iris.url}/predict",
        json={"instances": [{"sepal length (cm)": "long", "sepal width (cm)": 3.0,
                             "petal length (cm)": 1.0, "petal width (cm)": 0.2}]},
        timeout=10,
    )  # fmt: skip
    assert r.status_code == 422
    assert r.json()["problems"][0]["loc"] == "instances[0].sepal length (cm)"


def test_a_custom_pyfunc_is_served(registry: Registered) -> None:
    rows = [{"x": 1.5, "flag": True}, {"x": -2.0, "flag": False}]
    with running_server(registry, "doubler", "--refresh-seconds", "0") as server:
        answer = httpx.post(f"{server.url}/predict", json={"instances": rows}, timeout=10)
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
    assert info["runtime"] == "pyfunc"
    assert "a python_function model has no ONNX conversion here" in info["runtime_reason"]
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == mlflow_predict(registry, "doubler", rows) == [4.0, -4.0]


def test_a_model_without_a_signature_is_refused_in_one_line(registry: Registered) -> None:
    done = subprocess.run(
        [str(BIN / "conveyor"), "serve", "unsigned", "--port", str(free_port())],
        env=registry.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert "model 'unsigned' version 1: the MLflow model has no input signature" in output
    assert len(output.splitlines()) == 1 and "Traceback" not in output


def test_a_version_in_mlflows_legacy_stage_is_found_and_an_alias_wins(
    registry: Registered, tmp_path: Path
) -> None:
    import mlflow

    reg = registry.clone(tmp_path)
    listed = {m["name"]: m for m in json.loads(reg.conveyor("models", "list", "--json").stdout)}
    assert listed["legacy"]["production"] == "1"
    with running_server(reg, "legacy", "--stage", "Production", "--refresh-seconds", "0") as s:
        assert httpx.get(f"{s.url}/model/info", timeout=5).json()["version"] == "1"
    uri = f"sqlite:///{reg.home / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    client.set_registered_model_alias("legacy", "production", "2")
    with running_server(reg, "legacy", "--refresh-seconds", "0") as s:
        assert httpx.get(f"{s.url}/model/info", timeout=5).json()["version"] == "2"


def test_an_adopted_version_is_monitored_like_a_conveyor_one(
    registry: Registered, tmp_path: Path
) -> None:
    """`conveyor adopt` with the training rows: the version gets a schema with classes, a
    reference profile and baseline metrics; served, its traffic is judged for drift."""
    from sklearn.datasets import load_iris

    reg = registry.clone(tmp_path)
    frame = load_iris(as_frame=True).frame
    reference = tmp_path / "iris.csv"
    frame.to_csv(reference, index=False)
    adopted = json.loads(
        reg.conveyor(
            "adopt", "iris_byo", "1", "--reference", str(reference), "--target", "target",
            "--by", "alice", "--json",
        ).stdout
    )  # fmt: skip
    assert adopted["classification"] is True and adopted["rows"] == 150
    gates = {g["name"]: g for g in adopted["report"]["gates"]}
    assert gates["gates"]["outcome"] == "skipped"  # no project here: no gates to apply
    assert "no project" in gates["gates"]["detail"]
    assert gates["onnx parity"]["outcome"] == "passed"
    assert "150 rows: 0 label mismatches" in gates["onnx parity"]["detail"]
    assert adopted["metrics"]["accuracy"] > 0.9
    shown = json.loads(reg.conveyor("models", "show", "iris_byo", "1", "--json").stdout)
    assert shown["metrics"]["accuracy"] == adopted["metrics"]["accuracy"]
    history = json.loads(reg.conveyor("models", "history", "iris_byo", "--json").stdout)
    assert [(e["action"], e["actor"]) for e in history][-1] == ("adopt", "alice")
    again = subprocess.run(
        [str(BIN / "conveyor"), "adopt", "iris_byo", "1", "--reference", str(reference)],
        env=reg.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 2 and "already carries Conveyor's bundle" in again.stderr

    env = {"CONVEYOR_MONITOR_FLUSH_SECONDS": "1", "CONVEYOR_MONITOR_INTERVAL_SECONDS": "2"}
    with running_server(reg, "iris_byo", "--refresh-seconds", "0", env=env) as server:
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
        assert info["schema"]["classes"] == [0, 1, 2]
        assert info["runtime"] == "onnx"  # converted and checked on the reference rows
        assert "without Conveyor's bundle" not in info["runtime_reason"]
        shifted = frame.drop(columns="target").assign(**{"petal length (cm)": 9.0})
        rows = shifted.to_dict(orient="records")
        for start in range(0, 150, 30):
            r = httpx.post(
                f"{server.url}/predict", json={"instances": rows[start : start + 30]}, timeout=10
            )
            assert r.status_code == 200, r.text
            assert len(r.json()["probabilities"][0]) == 3  # the graph's probabilities
        deadline = time.monotonic() + 60
        while True:
            metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
            drifted = [
                line for line in metrics.splitlines()
                if line.startswith("conveyor_feature_drifted{") and line.endswith(" 1.0")
            ]  # fmt: skip
            if drifted:
                break
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.5)
    assert any('feature="petal length (cm)"' in line for line in drifted)


GATED_PROJECT = """\
name: iris_byo
task: classification
data:
  source: sklearn:iris
  target: target
  slices: {small_petals: {"petal length (cm)": {lt: 2.5}}}
model: {estimator: sklearn.ensemble.RandomForestClassifier}
gates:
  min: {accuracy: %s}
  slices: {small_petals: {accuracy: 0.9}}
"""


def test_the_projects_gates_apply_to_a_version_trained_elsewhere(
    registry: Registered, tmp_path: Path
) -> None:
    """`conveyor gate`: thresholds, slice thresholds and the champion comparison from the
    project's conveyor.yaml, on given labelled rows, for versions plain MLflow registered;
    exit 3 when a gate fails, and a version whose recorded gates failed may not roll out."""
    from sklearn.datasets import load_iris

    reg = registry.clone(tmp_path)
    data = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(data, index=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(GATED_PROJECT % 0.9)
    passed = reg.conveyor(
        "gate", "iris_byo", "1", "--data", str(data), "-p", str(project), "--json"
    )
    report = json.loads(passed.stdout)
    assert report["passed"] is True and report["metrics"]["accuracy"] > 0.9
    names = {g["name"]: g["outcome"] for g in report["gates"]}
    assert names == {
        "accuracy ≥ 0.9": "passed",
        "slice small_petals: accuracy ≥ 0.9": "passed",
        "champion": "skipped",  # version 1 is production itself
    }
    frame = load_iris(as_frame=True).frame
    frame["target"] = (frame["target"] + 1) % 3  # rows the model gets wrong
    wrong = tmp_path / "wrong.csv"
    frame.to_csv(wrong, index=False)
    failed = subprocess.run(
        [str(BIN / "conveyor"), "gate", "iris_byo", "1", "--data", str(wrong), "-p", str(project),
         "--no-record"],
        env=reg.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert failed.returncode == 3, failed.stderr
    assert "accuracy ≥ 0.9" in failed.stdout and "failed" in failed.stdout
    assert "quality gates failed: accuracy ≥ 0.9" in failed.stderr
    shown = json.loads(reg.conveyor("models", "show", "iris_byo", "1", "--json").stdout)
    assert shown["tags"]["conveyor.gates"] == "2 passed, 1 skipped"  # --no-record kept it

    # version 2, a one-split tree: under the bar, in the slice and against production
    (project / "conveyor.yaml").write_text(GATED_PROJECT % 0.8)
    stump = subprocess.run(
        [str(BIN / "conveyor"), "gate", "iris_byo", "2", "--data", str(data), "-p", str(project),
         "--by", "carol"],
        env=reg.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert stump.returncode == 3, stump.stderr
    assert "champion (f1_macro)" in stump.stderr and "accuracy ≥ 0.8" in stump.stderr
    shown = json.loads(reg.conveyor("models", "show", "iris_byo", "2", "--json").stdout)
    assert "failed" in shown["tags"]["conveyor.gates"]
    recorded = json.loads(shown["tags"]["conveyor.gate_report"])
    assert recorded["passed"] is False
    champion = next(g for g in recorded["gates"] if g["name"] == "champion (f1_macro)")
    assert champion["outcome"] == "failed" and "vs production v1" in champion["detail"]
    history = json.loads(reg.conveyor("models", "history", "iris_byo", "--json").stdout)
    assert (history[-1]["action"], history[-1]["version"], history[-1]["actor"]) == (
        "gate",
        "2",
        "carol",
    )
    refused = subprocess.run(
        [str(BIN / "conveyor"), "rollout", "start", "iris_byo", "2"],
        env=reg.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "iris_byo version 2 failed its quality gates" in refused.stderr


def test_an_adopted_version_rolls_out_with_the_same_commands(
    registry: Registered, tmp_path: Path
) -> None:
    """A version plain MLflow registered, adopted with its labelled rows, rolls out by canary
    against production and is promoted by `conveyor rollout promote`; the server follows.
    (The README's commands add the project's gates to adoption.)"""
    import mlflow
    from sklearn.datasets import load_iris

    reg = registry.clone(tmp_path)
    frame = load_iris(as_frame=True).frame
    reference = tmp_path / "iris.csv"
    frame.to_csv(reference, index=False)
    adopted = json.loads(
        reg.conveyor(
            "adopt", "iris_byo", "3", "--reference", str(reference), "--target", "target", "--json"
        ).stdout
    )
    assert adopted["report"]["passed"] is True
    env = {"CONVEYOR_ROLLOUT_POLL_SECONDS": "0.5", "CONVEYOR_ROLLOUT_CONTROLLER_SECONDS": "0.5"}
    with running_server(reg, "iris_byo", "--refresh-seconds", "1", env=env) as server:
        reg.conveyor("rollout", "start", "iris_byo", "3", "--steps", "50,100",
                     "--step-seconds", "600")  # fmt: skip
        deadline = time.monotonic() + 60
        while "candidate" not in (info := httpx.get(f"{server.url}/model/info").json()):
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.3)
        assert info["candidate"]["version"] == "3" and info["version"] == "1"
        rows = frame.drop(columns="target").to_dict(orient="records")
        versions = [
            httpx.post(f"{server.url}/predict", json={"instances": [row]}, timeout=10).json()[
                "model"
            ]["version"]
            for row in rows[:60]
        ]
        assert {"1", "3"} <= set(versions), versions
        reg.conveyor("rollout", "promote", "iris_byo", "--reason", "checked by hand")
        while httpx.get(f"{server.url}/model/info").json()["version"] != "3":
            assert time.monotonic() < deadline + 60, server.output()[-3000:]
            time.sleep(0.3)
    uri = f"sqlite:///{reg.home / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias("iris_byo", "production").version) == "3"
