"""``tuning.backend: ray``: the same search (Optuna's sampler over the spec's space, seeded) run
as Ray Tune trials, on a local Ray or the cluster at ``RAY_ADDRESS``.

Each trial runs in a Ray worker: it builds the spec's estimator there, scores the parameters by
the same cross-validation as the in-process backend, and logs itself as a child MLflow run of
the `conveyor run` (the ``mlflow.parentRunId`` tag: nested across processes). The best trial's
parameters come back; training and registering the final model stay in `conveyor run`.

Ray is an optional extra (``pip install 'conveyor-mlops[ray]'``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import UserError
from conveyor.training.tuning import TuningResult, suggest

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from conveyor.data.schema import Schema
    from conveyor.spec.models import ParamRange, ProjectSpec

log = logging.getLogger(__name__)
SCORE = "score"


def run_ray_trials(
    spec: ProjectSpec,
    base_dir: Path,
    schema: Schema,
    x: pd.DataFrame,
    y: pd.Series,
    tracking_uri: str,
    on_trial: Callable[[int, dict[str, Any], str, float], None] | None = None,
) -> TuningResult:
    """Run ``tuning.trials`` trials on Ray under the active MLflow run; return the best
    (``on_trial`` hears of each finished trial once they are all done)."""
    import mlflow
    import optuna

    assert spec.tuning is not None
    try:
        import ray
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise UserError(
            "tuning.backend: ray needs Ray Tune: pip install 'conveyor-mlops[ray]'"
        ) from None
    tuning = spec.tuning
    metric = tuning.metric or spec.primary_metric()
    mode = "max" if spec.higher_is_better(metric) else "min"
    parent = mlflow.active_run()
    started_here = not ray.is_initialized()
    if started_here:
        # RAY_ADDRESS (Ray's own variable) points at a cluster; without it a local Ray starts
        ray.init(
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            runtime_env={"env_vars": {"PYTHONPATH": str(base_dir)}},
        )
    payload = {
        "spec": spec,
        "base_dir": str(base_dir),
        "schema": schema,
        "x": x,
        "y": y,
        "metric": metric,
        "tracking_uri": tracking_uri,
        "experiment_id": parent.info.experiment_id if parent is not None else None,
        "parent_run_id": parent.info.run_id if parent is not None else None,
    }
    space = tuning.search_space
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searcher = OptunaSearch(
        space=functools.partial(_define, space=space), metric=SCORE, mode=mode, seed=spec.data.seed
    )
    try:
        # Ray Tune prints its experiment table to stdout whatever the verbosity: keep stdout
        # for Conveyor's own output (--json)
        with (
            tempfile.TemporaryDirectory(prefix="conveyor-ray-") as storage,
            contextlib.redirect_stdout(sys.stderr),
        ):
            tuner = tune.Tuner(
                tune.with_resources(tune.with_parameters(_trial, payload=payload), {"cpu": 1}),
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    num_samples=tuning.trials,
                    time_budget_s=tuning.timeout_s,
                ),
                run_config=tune.RunConfig(
                    name=f"{spec.name}-tuning", storage_path=storage, verbose=0
                ),
            )
            grid = tuner.fit()
            best = grid.get_best_result(metric=SCORE, mode=mode)
            if best.metrics is None or best.error is not None:
                errors = [str(e) for e in grid.errors][:1]
                raise UserError(f"every Ray trial failed: {errors[0] if errors else 'no result'}")
            if on_trial is not None:
                for number in range(len(grid)):
                    done = grid[number]
                    if done.metrics is not None and SCORE in done.metrics:
                        chosen = {k: v for k, v in (done.config or {}).items() if k in space}
                        params = {**spec.model.params, **chosen}
                        on_trial(number, params, metric, float(done.metrics[SCORE]))
            searched = {k: v for k, v in (best.config or {}).items() if k in space}
            return TuningResult(
                best_params={**spec.model.params, **searched},
                best_value=float(best.metrics[SCORE]),
                metric=metric,
                trials=len(grid),
                study=f"ray:{spec.name}-tuning",
            )
    finally:
        if started_here:
            ray.shutdown()


def _define(trial: optuna.Trial, space: dict[str, ParamRange]) -> None:
    """Optuna's define-by-run space, module level so Ray can pickle the searcher."""
    suggest(trial, space)


def _trial(config: dict[str, Any], payload: dict[str, Any]) -> None:
    """One trial, in a Ray worker."""
    import mlflow
    from ray import tune

    from conveyor.training.pipeline import fit_model, resolve_model
    from conveyor.training.tuning import cv_score

    spec: ProjectSpec = payload["spec"]
    base_dir = Path(payload["base_dir"])
    target = resolve_model(spec, base_dir)
    params = {**spec.model.params, **config}

    def fit(x: Any, y: Any, p: dict[str, Any]) -> Any:
        return fit_model(
            spec.model, target, payload["schema"], x, y, p, spec.data.seed, spec.source_file
        )

    mlflow.set_tracking_uri(payload["tracking_uri"])
    tags = {"conveyor.trial": tune.get_context().get_trial_id(), "conveyor.backend": "ray"}
    if payload["parent_run_id"]:
        tags["mlflow.parentRunId"] = payload["parent_run_id"]
    with mlflow.start_run(
        experiment_id=payload["experiment_id"],
        run_name=f"trial-{tune.get_context().get_trial_name()}",
        tags=tags,
    ):
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        value = cv_score(spec, fit, payload["x"], payload["y"], params, payload["metric"])
        mlflow.log_metric(f"cv_{payload['metric']}", value)
    tune.report({SCORE: value})
