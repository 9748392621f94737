"""`conveyor run` and the registry commands end to end on the embedded defaults (real MLflow
on SQLite, real store), through the CLI entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_run_promote_run_rollback(cli: Callable, wine_project: Callable, home: Path) -> None:
    project = wine_project()
    first = cli("run", "--project", str(project), "--json")
    assert first.exit_code == 0, first.stderr + first.stdout
    info = first.json()
    assert info["registered_version"] == "1"
    assert info["semver"] == "1.0.0"
    assert info["runtime"] == "onnx"
    assert info["metrics"]["accuracy"] >= 0.8
    on_disk = json.loads((project / "run_info.json").read_text())
    assert on_disk["run_id"] == info["run_id"]
    assert on_disk["onnx_uri"] == "models:/wine/1/extra_files/model.onnx"

    shown = cli("models", "show", "wine", "1", "--json").json()
    assert shown["stage"] == "staging"
    assert shown["aliases"] == ["staging"]
    assert len(shown["tags"]["conveyor.data_fingerprint"]) == 32

    assert cli("promote", "wine", "1", "--to", "production", "--reason", "first").exit_code == 0
    second = cli("run", "--project", str(project), "--json").json()
    assert second["registered_version"] == "2"
    assert second["semver"] == "1.0.1"  # same data, same params
    gate_names = {g["name"]: g["outcome"] for g in second["gates"]["gates"]}
    assert gate_names["schema compatibility"] == "passed"
    assert gate_names["champion (f1_macro)"] == "passed"

    assert cli("promote", "wine", "2", "--reason", "better").exit_code == 0
    v1 = cli("models", "show", "wine", "1", "--json").json()
    assert v1["stage"] == "archived"

    rolled = cli("rollback", "wine", "--reason", "regression", "--json")
    assert rolled.exit_code == 0, rolled.stderr
    assert rolled.json()["version"] == "1"
    assert cli("models", "show", "wine", "2", "--json").json()["stage"] == "rejected"
    assert cli("models", "show", "wine", "--json").json()[0]["aliases"] == ["production"]

    history = cli("models", "history", "wine", "--json").json()
    actions = [(e["version"], e["action"], e["from_stage"], e["to_stage"]) for e in history]
    assert ("1", "promote", "staging", "production") in actions
    assert ("2", "rollback", "production", "rejected") in actions
    assert ("1", "rollback", "archived", "production") in actions
    assert all(e["actor"] and e["at"] for e in history)


def test_failing_gate_registers_nothing_and_exits_3(cli: Callable, wine_project: Callable) -> None:
    project = wine_project(min_accuracy=1.0, C=0.0001)
    result = cli("run", "--project", str(project))
    assert result.exit_code == 3
    assert "accuracy ≥ 1" in result.stderr
    assert cli("models", "list", "--json").json() == []


def test_parameter_change_is_a_minor_version(cli: Callable, wine_project: Callable) -> None:
    assert cli("run", "--project", str(wine_project())).exit_code == 0
    out = cli("run", "--project", str(wine_project(C=0.5)), "--json").json()
    assert (out["semver"], out["semver_reason"]) == ("1.1.0", "parameters changed")
    spec = wine_project() / "conveyor.yaml"
    spec.write_text(
        spec.read_text()
        .replace("sklearn.linear_model.LogisticRegression", "sklearn.tree.DecisionTreeClassifier")
        .replace("{C: 1.0, max_iter: 1000}", "{max_depth: 4, random_state: 0}")
    )
    out = cli("run", "--project", str(spec.parent), "--json").json()
    assert (out["semver"], out["semver_reason"]) == (
        "1.2.0",
        "estimator (LogisticRegression → DecisionTreeClassifier) changed",
    )


def test_approval_required_before_production(cli: Callable, wine_project: Callable) -> None:
    project = wine_project(require_approval=True)
    assert cli("run", "--project", str(project)).exit_code == 0
    denied = cli("promote", "wine", "1", "--to", "production")
    assert denied.exit_code == 2
    assert "needs approval" in denied.stderr
    assert cli("models", "show", "wine", "1", "--json").json()["stage"] == "staging"
    assert cli("approve", "wine", "1", "--by", "alice", "--reason", "reviewed").exit_code == 0
    assert cli("promote", "wine", "1", "--to", "production").exit_code == 0
    history = cli("models", "history", "wine", "--json").json()
    approval = next(e for e in history if e["action"] == "approve")
    assert (approval["actor"], approval["reason"]) == ("alice", "reviewed")


def test_missing_version_and_model(cli: Callable, wine_project: Callable) -> None:
    assert cli("run", "--project", str(wine_project())).exit_code == 0
    missing = cli("models", "show", "wine", "9")
    assert missing.exit_code == 2
    assert "no version 9" in missing.stderr
    unknown = cli("promote", "nope", "1", "--json")
    assert unknown.exit_code == 2
    assert "no registered model named 'nope'" in unknown.json()["error"]


def test_mlflow_tracking_uri_is_used_and_named(
    cli: Callable,
    wine_project: Callable,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A team's MLFLOW_TRACKING_URI is their registry: the run goes there, and says so."""
    from mlflow.tracking import MlflowClient

    theirs = f"sqlite:///{tmp_path / 'theirs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", theirs)
    done = cli("run", "--project", str(wine_project()))
    assert done.exit_code == 0, done.stderr
    said = f"connecting to MLflow at {theirs} (from MLFLOW_TRACKING_URI)"
    assert "".join(said.split()) in "".join(done.stderr.split())  # as wrapped by the terminal
    assert MlflowClient(tracking_uri=theirs).get_registered_model("wine").name == "wine"
    assert not (home / "mlflow.db").exists()


def test_register_a_run_later(cli: Callable, wine_project: Callable, home: Path) -> None:
    """`run --no-register` logs the model and its bundle; `register --run-id` makes it the
    version the run would have made, once; a failed or unknown run registers nothing."""
    project = wine_project()
    logged = cli("run", "--project", str(project), "--no-register", "--json")
    assert logged.exit_code == 0, logged.stderr
    info = logged.json()
    assert info["registered_version"] is None and info["gates"]["passed"] is True
    assert cli("models", "list", "--json").json() == []  # nothing registered yet
    first = cli("register", "--run-id", info["run_id"], "--by", "pipeline", "--json")
    assert first.exit_code == 0, first.stderr
    assert (first.json()["registered_version"], first.json()["semver"]) == ("1", "1.0.0")
    again = cli("register", "--run-id", info["run_id"], "--json")  # a retried pipeline step
    assert again.json()["registered_version"] == "1"
    shown = cli("models", "show", "wine", "1", "--json").json()
    assert shown["stage"] == "staging" and shown["run_id"] == info["run_id"]
    assert shown["tags"]["conveyor.data_fingerprint"] and shown["tags"]["conveyor.gates"]
    history = cli("models", "history", "wine", "--json").json()
    assert [(e["action"], e["actor"]) for e in history] == [("register", "pipeline")]
    # the same as a plain run: a second plain run is a patch on top
    plain = cli("run", "--project", str(project), "--json").json()
    assert (plain["registered_version"], plain["semver"]) == ("2", "1.0.1")

    unknown = cli("register", "--run-id", "0123456789abcdef")
    assert unknown.exit_code != 0 and "no logged candidate" in " ".join(unknown.stderr.split())
    assert "Traceback" not in unknown.stderr
    failed = cli(
        "run", "--project", str(wine_project(min_accuracy=0.999)), "--no-register", "--json"
    )
    assert failed.exit_code == 3
