"""conveyor.training.tuning: two Optuna trials in process, each a nested MLflow run in a
temporary SQLite tracking store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from conveyor.data.schema import Column, Kind, Schema
from conveyor.registry.seed import seed_tracking_db
from conveyor.settings import Settings
from conveyor.spec.loader import load_spec
from conveyor.spec.models import ProjectSpec
from conveyor.training.pipeline import build_pipeline
from conveyor.training.tuning import cv_score, run_trials, suggest

SPEC = """\
name: tuned
task: classification
data: {source: sklearn:wine, target: target, seed: 7}
model:
  estimator: sklearn.linear_model.LogisticRegression
  params: {max_iter: 300}
tuning:
  trials: 2
  cv_folds: 2
  metric: accuracy
  search_space:
    C: {type: float, low: 0.01, high: 10, log: true}
    fit_intercept: {type: categorical, choices: [true, false]}
"""


@pytest.fixture
def spec(tmp_path: Path) -> ProjectSpec:
    (tmp_path / "conveyor.yaml").write_text(SPEC, encoding="utf-8")
    return load_spec(tmp_path / "conveyor.yaml")


@pytest.fixture
def tracking(home: Path) -> Iterator[str]:
    """MLflow on a SQLite file of this test's home (seeded from the machine-wide template)."""
    db = home / "mlflow.db"
    home.mkdir(parents=True)
    seed_tracking_db(db, Settings(home=home).cache_dir)
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def wine() -> tuple[Schema, pd.DataFrame, pd.Series]:
    frame = load_wine(as_frame=True).frame
    names = ["alcohol", "flavanoids", "color_intensity"]
    schema = Schema([Column(n, Kind.NUMERIC) for n in names], "target", Kind.CATEGORICAL)
    return schema, frame[names], frame["target"]


def fitter(schema: Schema) -> Any:
    from sklearn.linear_model import LogisticRegression

    def fit(x: pd.DataFrame, y: pd.Series, params: dict[str, Any]) -> Any:
        return build_pipeline(schema, LogisticRegression, params, seed=7).fit(x, y)

    return fit


def test_suggest_draws_each_kind_within_its_range(spec: ProjectSpec) -> None:
    assert spec.tuning is not None
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        params = suggest(study.ask(), spec.tuning.search_space)
        assert 0.01 <= params["C"] <= 10 and params["fit_intercept"] in (True, False)


def test_cv_score_is_a_mean_accuracy_and_repeatable(spec: ProjectSpec) -> None:
    schema, x, y = wine()
    first = cv_score(spec, fitter(schema), x, y, {"max_iter": 300}, "accuracy")
    assert 0.7 < first <= 1.0
    assert cv_score(spec, fitter(schema), x, y, {"max_iter": 300}, "accuracy") == first


def test_two_trials_are_two_nested_runs(spec: ProjectSpec, tracking: str) -> None:
    schema, x, y = wine()
    heard: list[tuple[int, str, float]] = []
    with mlflow.start_run(run_name="parent") as parent:
        result = run_trials(
            spec, schema, fitter(schema), x, y,
            on_trial=lambda n, params, metric, value: heard.append((n, metric, value)),
        )  # fmt: skip
    assert result.trials == 2 and result.metric == "accuracy"
    assert result.study == "tuned-tuning"
    assert result.best_params["max_iter"] == 300  # the spec's own params stay
    assert set(result.best_params) == {"max_iter", "C", "fit_intercept"}
    assert [n for n, _, _ in heard] == [0, 1]
    assert result.best_value == max(v for _, _, v in heard)
    runs = mlflow.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
    )
    assert sorted(r.data.tags["conveyor.trial"] for r in runs) == ["0", "1"]
    assert all("cv_accuracy" in r.data.metrics and "C" in r.data.params for r in runs)
