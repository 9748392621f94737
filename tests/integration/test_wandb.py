"""Weights & Biases beside MLflow (``tracking.wandb``), in W&B's offline mode: the run files W&B
writes hold the params, every tuning trial, the holdout metrics, the gate report and the plot,
and the two runs name each other."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult

pytestmark = pytest.mark.integration
pytest.importorskip("wandb", reason="W&B is an optional extra: pip install '.[wandb]'")

Cli = Callable[..., CliResult]

SPEC = """\
name: wine_wb
task: classification
data: {{source: "sklearn:wine", target: target, seed: 5}}
model: {{estimator: sklearn.linear_model.LogisticRegression, params: {{max_iter: 500}}}}
tuning:
  trials: 3
  search_space: {{C: {{type: float, low: 0.01, high: 10, log: true}}}}
gates: {{min: {{accuracy: {min_accuracy}}}}}
tracking:
  wandb: {{project: wine-models, tags: [nightly]}}
"""


@dataclass
class OfflineRun:
    """What W&B wrote for one offline run, read from its files."""

    folder: Path
    run_id: str = ""
    project: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None

    def table(self, name: str) -> dict[str, Any]:
        [path] = (self.folder / "files" / "media" / "table").glob(f"{name}_*.table.json")
        return json.loads(path.read_text())


def wandb_records(path: Path) -> Iterator[bytes]:
    """Records of a ``.wandb`` file: a 7-byte header (``:W&B``, magic, version), then LevelDB
    log blocks of 32 KiB whose chunks (crc, length, type: full/first/middle/last) make up
    serialized ``Record`` messages. (W&B's Python package no longer ships a reader.)"""
    data = path.read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:  # block padding
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def read_offline_run(folder: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    def key(item: Any) -> str:
        return item.key or "/".join(item.nested_key)

    found = OfflineRun(folder)
    [path] = folder.glob("run-*.wandb")
    for raw in wandb_records(path):
        record = pb.Record()  # type: ignore[attr-defined]  # the generated module's stub names no messages
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            found.run_id, found.project = record.run.run_id, record.run.project
            found.tags = list(record.run.tags)
            found.config |= {key(i): json.loads(i.value_json) for i in record.run.config.update}
        elif kind == "config":
            found.config |= {key(i): json.loads(i.value_json) for i in record.config.update}
        elif kind == "summary":
            found.summary |= {key(i): json.loads(i.value_json) for i in record.summary.update}
        elif kind == "history":
            found.history.append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "exit":
            found.exit_code = record.exit.exit_code
    return found


def only_run(home: Path) -> OfflineRun:
    [folder] = (home / "wandb" / "wandb").glob("offline-run-*")
    return read_offline_run(folder)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_a_run_and_its_trials_are_mirrored_to_wandb(
    cli: Cli, tmp_path: Path, home: Path, offline: None
) -> None:
    (tmp_path / "conveyor.yaml").write_text(SPEC.format(min_accuracy=0.8))
    run = cli("run", "--project", str(tmp_path), "--json")
    assert run.exit_code == 0, run.stderr
    info = run.json()
    wb = only_run(home)

    assert wb.project == "wine-models"
    assert wb.tags == ["wine_wb", "classification", "nightly"]
    # linked both ways: W&B names the MLflow run, MLflow names the W&B run
    assert wb.config["mlflow_run_id"] == info["run_id"]
    assert wb.config["params"] == info["params"]
    import mlflow

    tags = mlflow.MlflowClient(f"sqlite:///{home / 'mlflow.db'}").get_run(info["run_id"]).data.tags
    assert tags["conveyor.wandb.run"] == f"wine-models/{wb.run_id}"

    trials = wb.table("trials")
    assert trials["columns"] == ["trial", "C", "max_iter", "cv_f1_macro"]
    assert [row[0] for row in trials["data"]] == [0, 1, 2]
    assert max(row[-1] for row in trials["data"]) == pytest.approx(info["tuning"]["best_value"])
    assert [h["trial"] for h in wb.history if "trial" in h] == [0, 1, 2]

    for name, value in info["metrics"].items():
        assert wb.summary[f"holdout/{name}"] == pytest.approx(value)
    gates = wb.table("gates")
    assert ["accuracy ≥ 0.8", "passed"] in [row[:2] for row in gates["data"]]
    assert list((wb.folder / "files" / "media" / "images").glob("diagnostic_plot_*.png"))
    assert wb.exit_code == 0


def test_a_gate_failure_is_mirrored_too(
    cli: Cli, tmp_path: Path, home: Path, offline: None
) -> None:
    (tmp_path / "conveyor.yaml").write_text(SPEC.format(min_accuracy=1.0))
    run = cli("run", "--project", str(tmp_path))
    assert run.exit_code == 3
    wb = only_run(home)
    assert wb.exit_code == 3
    assert ["accuracy ≥ 1", "failed"] in [row[:2] for row in wb.table("gates")["data"]]


def test_wandb_that_cannot_start_says_how_to_fix_it(cli: Cli, tmp_path: Path, home: Path) -> None:
    # online, with no API key and nothing to ask it from: W&B refuses to start. A process of
    # its own, since W&B keeps its settings in process-wide state.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env |= {
        "WANDB_MODE": "online",
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
        "WANDB_BASE_URL": "http://127.0.0.1:9",  # nothing listens there
    }
    (tmp_path / "conveyor.yaml").write_text(SPEC.format(min_accuracy=0.8))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "conveyor"), "run", "--project", str(tmp_path)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    said = " ".join(done.stderr.split())
    assert "W&B run could not start" in said and "WANDB_MODE=offline" in said
    assert "Traceback" not in done.stderr
    shown = cli("models", "list", "--json")
    assert all(m["name"] != "wine_wb" for m in shown.json())  # nothing registered
