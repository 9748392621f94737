"""Tuning: `conveyor run` with a `tuning:` section logs nested trial runs and trains with the
best params; `conveyor tune` workers in separate processes share one Optuna study on PostgreSQL."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.procs import CONVEYOR, Processes, communicate_all
from tests.integration.test_postgres import postgres_database

pytestmark = pytest.mark.integration

OPEN_STUDY = """\
import pathlib, sys, time
from conveyor.spec import load_spec
from conveyor.training.tuning import open_study

project, storage, ready, go = sys.argv[1:]
spec = load_spec(pathlib.Path(project))
pathlib.Path(ready).touch()
deadline = time.monotonic() + 60
while not pathlib.Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.001)
print(open_study(spec, storage).study_name)
"""

TUNING = """\
tuning:
  trials: {trials}
  cv_folds: 3
  search_space:
    C: {{type: float, low: 0.01, high: 10.0, log: true}}
"""


@pytest.fixture
def tuned_project(wine_project: Callable) -> Callable[..., Path]:
    def make(trials: int = 4) -> Path:
        project = wine_project()
        spec = project / "conveyor.yaml"
        spec.write_text(spec.read_text() + TUNING.format(trials=trials))
        return project

    return make


def test_run_with_tuning_logs_trials_and_uses_the_best(
    cli: Callable, tuned_project: Callable, home: Path
) -> None:
    from mlflow import MlflowClient

    project = tuned_project(trials=4)
    result = cli("run", "--project", str(project), "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    info = json.loads((project / "run_info.json").read_text())
    assert info["run_id"] == result.json()["run_id"]
    tuning = info["tuning"]
    assert tuning["trials"] == 4
    assert tuning["metric"] == "f1_macro"
    assert tuning["study"] == "wine-tuning"

    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    trials = client.search_runs(
        [info["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{info['run_id']}'"
    )
    assert len(trials) == 4
    assert sorted(t.data.tags["conveyor.trial"] for t in trials) == ["0", "1", "2", "3"]
    assert all(t.data.params["max_iter"] == "1000" for t in trials)  # fixed params kept
    assert len({t.data.params["C"] for t in trials}) == 4  # the sampler explored C
    top = max(t.data.metrics["cv_f1_macro"] for t in trials)
    # Optuna's best trial: the first (lowest number) of those with the best value
    best = min(
        (t for t in trials if t.data.metrics["cv_f1_macro"] == top),
        key=lambda t: int(t.data.tags["conveyor.trial"]),
    )
    assert tuning["best_value"] == pytest.approx(best.data.metrics["cv_f1_macro"])

    # the final model was trained with the best trial's params, and says so
    assert str(info["params"]["C"]) == best.data.params["C"]
    assert info["params"]["max_iter"] == 1000
    parent = client.get_run(info["run_id"])
    assert parent.data.params["C"] == best.data.params["C"]
    assert parent.data.metrics["tuning_best_cv_f1_macro"] == pytest.approx(tuning["best_value"])
    assert info["registered_version"] == "1"


@pytest.mark.postgres
def test_tune_workers_share_one_study_on_postgres(
    processes: Processes, tuned_project: Callable, home: Path
) -> None:
    import optuna
    from mlflow import MlflowClient

    project = tuned_project(trials=20)  # --trials overrides it per worker
    with postgres_database("conveyor_optuna") as storage:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        env["CONVEYOR_HOME"] = str(home)
        args = [CONVEYOR, "tune", "--project", str(project), "--trials", "3"]
        workers = [processes.start([*args, "--storage", storage, "--json"], env) for _ in range(2)]
        results = communicate_all(workers, deadline_s=240)
        for code, out, err in results:
            assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
        reports = [json.loads(out) for _, out, _ in results]
        assert {r["study"] for r in reports} == {"wine-tuning"}
        # the worker that finished last saw the other's trials in the shared study
        assert max(r["trials"] for r in reports) == 6

        rdb = optuna.storages.RDBStorage(storage)
        study = optuna.load_study(study_name="wine-tuning", storage=rdb)
        try:
            assert len(study.trials) == 6
            assert sorted(t.number for t in study.trials) == list(range(6))
            assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
            assert study.direction == optuna.study.StudyDirection.MAXIMIZE
            assert study.best_value == pytest.approx(max(r["best_value"] for r in reports))
        finally:
            rdb.engine.dispose()  # let the database be dropped

    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("wine")
    assert experiment is not None
    parents = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`conveyor.kind` = 'tuning'"
    )
    assert len(parents) == 2
    for parent in parents:
        children = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        )
        assert len(children) == 3
    trial_numbers = sorted(
        int(run.data.tags["conveyor.trial"])
        for run in client.search_runs(
            [experiment.experiment_id], filter_string="tags.`conveyor.trial` != ''"
        )
    )
    assert trial_numbers == list(range(6))  # each study trial logged once, by one worker


@pytest.mark.postgres
def test_workers_opening_a_fresh_storage_at_once_all_succeed(
    processes: Processes, tuned_project: Callable, home: Path, tmp_path: Path
) -> None:
    """Optuna creates its tables on first use; workers racing to do it must all get the study."""
    import optuna

    project = tuned_project()
    count = 4
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(count)]
    with postgres_database("conveyor_optuna") as storage:
        procs = [
            processes.start(
                [sys.executable, "-c", OPEN_STUDY, str(project), storage, str(r), str(go)],
                dict(os.environ),
            )
            for r in ready
        ]
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in ready):
            assert time.monotonic() < deadline, "workers did not get ready"
            assert all(p.poll() is None for p in procs), "a worker died before the start"
            time.sleep(0.05)
        go.touch()  # all of them open the study at the same moment
        results = communicate_all(procs, deadline_s=60)
        for code, out, err in results:
            assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
            assert out.strip() == "wine-tuning"
        rdb = optuna.storages.RDBStorage(storage)
        try:
            summaries = optuna.get_all_study_summaries(rdb)
        finally:
            rdb.engine.dispose()  # its pooled connections closed now, not by the collector
        assert [s.study_name for s in summaries] == ["wine-tuning"]
