"""`conveyor tune`: one tuning worker under a parent MLflow run; workers share a study."""

from __future__ import annotations

from pathlib import Path

from conveyor.pipeline.dataset import prepare_data
from conveyor.registry.client import connect, ensure_experiment, mlflow_errors
from conveyor.settings import Settings
from conveyor.spec.models import ProjectSpec
from conveyor.training.pipeline import fit_model, resolve_model
from conveyor.training.tuning import TuningResult, run_trials


def tune_worker(
    spec: ProjectSpec, base_dir: Path, settings: Settings, trials: int | None, storage: str | None
) -> TuningResult:
    import mlflow

    target = resolve_model(spec, base_dir)
    data = prepare_data(spec, base_dir)
    client = connect(settings)
    experiment_id = ensure_experiment(client, settings, settings.experiment or spec.name)

    def fit(x, y, params):  # type: ignore[no-untyped-def]
        return fit_model(
            spec.model, target, data.schema, x, y, params, spec.data.seed, spec.source_file
        )

    with (
        mlflow_errors(),
        mlflow.start_run(experiment_id=experiment_id, run_name=f"{spec.name}-tune"),
    ):
        mlflow.set_tag("conveyor.kind", "tuning")
        result = run_trials(spec, data.schema, fit, data.x_train, data.y_train, trials, storage)
        mlflow.log_params({f"best.{k}": str(v)[:500] for k, v in result.best_params.items()})
        mlflow.log_metric(f"best_cv_{result.metric}", result.best_value)
    return result
