"""`conveyor tune`: one tuning worker under a parent MLflow run (workers share a study), or one
trial whose parameters a scheduler such as Katib chose (`--trial --set NAME=VALUE`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import Problem, UserError
from conveyor.pipeline.dataset import prepare_data
from conveyor.registry.client import connect, ensure_experiment, mlflow_errors
from conveyor.settings import Settings
from conveyor.spec.models import ProjectSpec
from conveyor.training.pipeline import fit_model, resolve_model
from conveyor.training.tuning import TuningResult, cv_score, run_trials

if TYPE_CHECKING:
    from conveyor.spec.models import ParamRange


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


@dataclass(frozen=True)
class TrialResult:
    metric: str
    value: float
    params: dict[str, Any]
    run_id: str

    def line(self) -> str:
        """``metric=value``: the line Katib's StdOut metrics collector reads."""
        return f"{self.metric}={self.value:.10g}"


def parse_assignments(spec: ProjectSpec, assignments: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings (as a trial scheduler substitutes them) typed by the spec's search
    space; every name must be in ``tuning.search_space``."""
    assert spec.tuning is not None
    space = spec.tuning.search_space
    params: dict[str, Any] = {}
    problems: list[Problem] = []
    for item in assignments:
        name, eq, raw = item.partition("=")
        where = f"--set {item}"
        if not eq or not name:
            problems.append(Problem(where, "expected NAME=VALUE"))
            continue
        rng = space.get(name)
        if rng is None:
            known = ", ".join(sorted(space)) or "none"
            problems.append(Problem(where, f"not in tuning.search_space ({known})"))
            continue
        try:
            params[name] = _typed(rng, raw)
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
    named = {item.partition("=")[0] for item in assignments}
    problems += [
        Problem(f"--set {m}=...", "missing: every searched parameter needs a value")
        for m in sorted(set(space) - named)
    ]
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise UserError(f"trial parameters do not fit {spec.source_file}'s search space:\n{lines}")
    return params


def _typed(rng: ParamRange, raw: str) -> Any:
    if rng.type == "categorical":
        assert rng.choices is not None
        for choice in rng.choices:
            if str(choice) == raw or (
                isinstance(choice, bool) and raw.lower() == str(choice).lower()
            ):
                return choice
        raise ValueError(f"must be one of {', '.join(map(str, rng.choices))}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number, not {raw!r}") from None
    if rng.type == "int":
        if not value.is_integer():
            raise ValueError(f"must be a whole number, not {raw!r}")
        return int(value)
    return value


def run_trial(
    spec: ProjectSpec,
    base_dir: Path,
    settings: Settings,
    assignments: list[str],
    trial_name: str | None = None,
) -> TrialResult:
    """One trial scheduled elsewhere (Katib): the cross-validated metric of the spec's params
    with ``assignments`` on the training split, logged as an MLflow run of the experiment."""
    import mlflow

    assert spec.tuning is not None
    chosen = parse_assignments(spec, assignments)
    target = resolve_model(spec, base_dir)
    data = prepare_data(spec, base_dir)
    params = {**spec.model.params, **chosen}
    metric = spec.tuning.metric or spec.primary_metric()

    def fit(x, y, p):  # type: ignore[no-untyped-def]
        return fit_model(spec.model, target, data.schema, x, y, p, spec.data.seed, spec.source_file)

    client = connect(settings)
    experiment_id = ensure_experiment(client, settings, settings.experiment or spec.name)
    with (
        mlflow_errors(),
        mlflow.start_run(experiment_id=experiment_id, run_name=trial_name or "trial") as run,
    ):
        mlflow.set_tags({"conveyor.kind": "trial", "conveyor.trial": trial_name or ""})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        value = cv_score(spec, fit, data.x_train, data.y_train, params, metric)
        mlflow.log_metric(f"cv_{metric}", value)
    return TrialResult(metric, value, params, run.info.run_id)
