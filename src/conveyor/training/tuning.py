"""Hyperparameter search with Optuna. Each trial is a nested MLflow run; workers on several
processes or machines share one study through an Optuna storage URL."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from conveyor.errors import ServiceUnavailableError

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from conveyor.data.schema import Schema
    from conveyor.spec.models import ParamRange, ProjectSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuningResult:
    best_params: dict[str, Any]
    best_value: float
    metric: str
    trials: int
    study: str


def suggest(trial: optuna.Trial, space: dict[str, ParamRange]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, rng in space.items():
        if rng.type == "categorical":
            assert rng.choices is not None
            params[name] = trial.suggest_categorical(name, rng.choices)
        elif rng.type == "int":
            assert rng.low is not None and rng.high is not None
            params[name] = trial.suggest_int(name, int(rng.low), int(rng.high), log=rng.log)
        else:
            assert rng.low is not None and rng.high is not None
            params[name] = trial.suggest_float(name, rng.low, rng.high, log=rng.log)
    return params


_CREATE_ATTEMPTS = 3


def open_study(spec: ProjectSpec, storage: str | None) -> optuna.Study:
    import optuna
    from sqlalchemy import exc as sa_exc

    assert spec.tuning is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric = spec.tuning.metric or spec.primary_metric()
    direction: Literal["maximize", "minimize"] = (
        "maximize" if spec.higher_is_better(metric) else "minimize"
    )
    name = spec.tuning.study or f"{spec.name}-tuning"
    sampler = optuna.samplers.TPESampler(seed=spec.data.seed) if storage is None else None
    create = functools.partial(
        optuna.create_study,
        study_name=name,
        storage=storage,
        direction=direction,
        load_if_exists=True,
        sampler=sampler,
    )
    try:
        if storage is None:
            return create()
        # workers starting together on a fresh storage race to create Optuna's tables (one
        # gets "duplicate key ... pg_type" or "already exists"); the tables exist on a retry
        for attempt in range(1, _CREATE_ATTEMPTS):
            try:
                return create()
            except (sa_exc.IntegrityError, sa_exc.ProgrammingError):
                time.sleep(0.2 * attempt)
        return create()
    except Exception as exc:  # optuna wraps SQLAlchemy errors in many ways
        if storage is None:
            raise
        raise ServiceUnavailableError(
            f"Optuna storage {storage.split('@')[-1]} is unusable: {exc}"
        ) from None


def cv_score(
    spec: ProjectSpec,
    fit: Callable[[pd.DataFrame, pd.Series, dict[str, Any]], Any],
    x: pd.DataFrame,
    y: pd.Series,
    params: dict[str, Any],
    metric: str,
) -> float:
    """Mean ``metric`` over k folds of the training split; the holdout stays untouched."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    from conveyor.spec.models import Task
    from conveyor.training.evaluation import compute_metrics, predict

    assert spec.tuning is not None
    classification = spec.task is Task.CLASSIFICATION
    folds = spec.tuning.cv_folds
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=spec.data.seed)
        if classification and y.value_counts().min() >= folds
        else KFold(folds, shuffle=True, random_state=spec.data.seed)
    )
    scores = []
    for train_idx, test_idx in splitter.split(x, y):
        model = fit(x.iloc[train_idx], y.iloc[train_idx], params)
        preds = predict(model, x.iloc[test_idx], classification)
        value = compute_metrics(y.iloc[test_idx], preds, classification).get(metric)
        if value is not None:
            scores.append(value)
    return float(np.mean(scores)) if scores else float("nan")


def run_trials(
    spec: ProjectSpec,
    schema: Schema,
    fit: Callable[[pd.DataFrame, pd.Series, dict[str, Any]], Any],
    x: pd.DataFrame,
    y: pd.Series,
    trials: int | None = None,
    storage: str | None = None,
    on_trial: Callable[[int, dict[str, Any], str, float], None] | None = None,
) -> TuningResult:
    """Run trials (nested MLflow runs under the active run) and return the study's best;
    ``on_trial(number, params, metric, value)`` hears of each finished trial."""
    import mlflow

    assert spec.tuning is not None
    tuning = spec.tuning
    metric = tuning.metric or spec.primary_metric()
    study = open_study(spec, storage if storage is not None else tuning.storage)
    # nested runs go to the active experiment, not the parent's, unless told
    parent = mlflow.active_run()
    experiment_id = parent.info.experiment_id if parent is not None else None

    def objective(trial: optuna.Trial) -> float:
        params = {**spec.model.params, **suggest(trial, tuning.search_space)}
        with mlflow.start_run(
            run_name=f"trial-{trial.number}", nested=True, experiment_id=experiment_id
        ):
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            value = cv_score(spec, fit, x, y, params, metric)
            mlflow.log_metric(f"cv_{metric}", value)
            mlflow.set_tag("conveyor.trial", str(trial.number))
        if on_trial is not None:
            on_trial(trial.number, params, metric, value)
        return value

    study.optimize(objective, n_trials=trials or tuning.trials, timeout=tuning.timeout_s)
    best = study.best_trial
    return TuningResult(
        best_params={**spec.model.params, **best.params},
        best_value=float(best.value if best.value is not None else float("nan")),
        metric=metric,
        trials=len(study.trials),
        study=study.study_name,
    )
