"""The whole `conveyor run`, step by step, with timings and a progress callback."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conveyor.display import mask_urls
from conveyor.errors import GateFailedError
from conveyor.pipeline.dataset import prepare_data
from conveyor.pipeline.evaluate import Candidate, evaluate_candidate
from conveyor.pipeline.register import RegisteredVersion, log_candidate, register_candidate
from conveyor.pipeline.wandb_log import wandb_run
from conveyor.registry.client import connect, ensure_experiment, mlflow_errors
from conveyor.registry.stages import ModelRegistry
from conveyor.settings import Settings
from conveyor.spec.loader import spec_hash
from conveyor.spec.models import ProjectSpec
from conveyor.store.engine import Store
from conveyor.tracing import Tracing, tracing_from_settings
from conveyor.training.pipeline import fit_model, resolve_model

Progress = Callable[[str, str], None]


def _quiet(step: str, message: str) -> None:
    return None


@dataclass
class RunResult:
    """What `conveyor run` did; written to run_info.json for CI."""

    model_name: str
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    gates: dict[str, Any]
    runtime: str
    params: dict[str, Any]
    registered: RegisteredVersion | None = None
    tuning: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        reg = self.registered
        return {
            "model_name": self.model_name,
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "registered_version": reg.version if reg else None,
            "semver": reg.semver if reg else None,
            "semver_reason": reg.semver_reason if reg else None,
            "model_uri": reg.model_uri if reg else None,
            "registry_uri": f"models:/{self.model_name}/{reg.version}" if reg else None,
            "onnx_uri": reg.onnx_uri if reg else None,
            "runtime": self.runtime,
            "metrics": self.metrics,
            "params": self.params,
            "gates": self.gates,
            "tuning": self.tuning,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "warnings": self.warnings,
        }


class _Clock:
    """Times each step, reports it to the progress callback, and traces it as a span."""

    def __init__(self, progress: Progress, tracing: Tracing) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress
        self.tracing = tracing

    @contextlib.contextmanager
    def step(self, name: str, message: str) -> Iterator[None]:
        self.progress(name, message)
        start = time.perf_counter()
        try:
            with self.tracing.span(f"conveyor.run.{name}"):
                yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def run_pipeline(
    spec: ProjectSpec,
    base_dir: Path,
    settings: Settings,
    store: Store,
    progress: Progress = _quiet,
    actor: str = "conveyor",
    tracing: Tracing | None = None,
    register: bool = True,
) -> RunResult:
    """Validate → train (→ tune) → evaluate → ONNX → gates → register. Raises on any failure;
    a gate failure raises ``GateFailedError`` after logging the report, registering nothing.
    With ``register=False`` the model is logged in the run but not registered: ``conveyor
    register --run-id`` does that later (a pipeline's register step, gated on the gates).
    Traced as a ``conveyor.run`` span with a child per step when tracing is configured."""
    own = tracing is None
    tracing = tracing or tracing_from_settings(settings, "conveyor-run")
    try:
        with (
            tracing.span("conveyor.run", **{"conveyor.model": spec.name}) as span,
            tempfile.TemporaryDirectory(prefix="conveyor-run-") as tmp,
        ):
            result = _run(
                spec, base_dir, settings, store, progress, actor, Path(tmp), tracing, register
            )
            registered = result.registered.version if result.registered else ""
            tracing.annotate(
                span, **{"conveyor.run_id": result.run_id, "conveyor.version": registered}
            )
            return result
    finally:
        if own:
            tracing.shutdown()


def _run(
    spec: ProjectSpec,
    base_dir: Path,
    settings: Settings,
    store: Store,
    progress: Progress,
    actor: str,
    workdir: Path,
    tracing: Tracing,
    register: bool = True,
) -> RunResult:
    import mlflow

    clock = _Clock(progress, tracing)
    with clock.step("data", f"loading and checking {spec.data.source}"):
        target = resolve_model(spec, base_dir)
        data = prepare_data(spec, base_dir)
    for finding in data.findings:
        progress(finding.level, str(finding))
    where = mask_urls(settings.tracking_uri)
    if settings.tracking_source == "MLFLOW_TRACKING_URI":  # say so: it may surprise
        where += " (from MLFLOW_TRACKING_URI)"
    with clock.step("tracking", f"connecting to MLflow at {where}"):
        client = connect(settings)
        experiment_id = ensure_experiment(client, settings, settings.experiment or spec.name)
        registry = ModelRegistry(client, store)

    def fit(x: Any, y: Any, params: dict[str, Any]) -> Any:
        return fit_model(
            spec.model, target, data.schema, x, y, params, spec.data.seed, spec.source_file
        )

    with (
        mlflow_errors(),
        mlflow.start_run(experiment_id=experiment_id, run_name=f"{spec.name}-run") as run,
        contextlib.ExitStack() as stack,
    ):
        run_id = run.info.run_id
        wb = stack.enter_context(wandb_run(spec, settings.home, run_id, settings.tracking_uri))
        mlflow.set_tags(
            {
                "conveyor.spec_hash": spec_hash(spec),
                "conveyor.data_fingerprint": data.fingerprint,
                **data.lineage,
                **wb.link(),
            }
        )
        with clock.step("lineage", "logging dataset lineage"):
            _log_inputs(spec, data)
        params = dict(spec.model.params)
        tuning_info = None
        if spec.tuning is not None:
            backend = spec.tuning.backend
            with clock.step("tune", f"tuning: {spec.tuning.trials} trials ({backend})"):
                if backend == "ray":
                    from conveyor.training.ray_tuning import run_ray_trials

                    tuned = run_ray_trials(
                        spec, base_dir, data.schema, data.x_train, data.y_train,
                        settings.tracking_uri, on_trial=wb.log_trial,
                    )  # fmt: skip
                else:
                    from conveyor.training.tuning import run_trials

                    tuned = run_trials(
                        spec, data.schema, fit, data.x_train, data.y_train, on_trial=wb.log_trial
                    )
                params = tuned.best_params
                tuning_info = {
                    "best_value": tuned.best_value,
                    "metric": tuned.metric,
                    "trials": tuned.trials,
                    "study": tuned.study,
                }
                mlflow.log_metric(f"tuning_best_cv_{tuned.metric}", tuned.best_value)
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_param("estimator", spec.model.estimator or spec.model.train_function)
        wb.log_params(params)
        with clock.step("train", "training"):
            model = fit(data.x_train, data.y_train, params)
        with clock.step("evaluate", "evaluating on the holdout, exporting ONNX, checking gates"):
            candidate = Candidate(model, params, _params_hash(spec, params))
            evaluation = evaluate_candidate(
                spec, data, candidate, registry, clock.timings, workdir, settings
            )
        mlflow.log_metrics(evaluation.metrics)
        mlflow.log_dict(evaluation.report.to_dict(), "conveyor/gate_report.json")
        mlflow.set_tag("conveyor.gates", "passed" if evaluation.report.passed else "failed")
        mlflow.set_tag("conveyor.runtime", evaluation.runtime)
        if evaluation.onnx_reason:
            mlflow.set_tag("conveyor.onnx_skipped", evaluation.onnx_reason[:500])
        result = RunResult(
            model_name=spec.name,
            run_id=run_id,
            experiment_id=experiment_id,
            metrics=evaluation.metrics,
            gates=evaluation.report.to_dict(),
            runtime=evaluation.runtime,
            params=params,
            tuning=tuning_info,
            timings=clock.timings,
            warnings=[f.to_dict() for f in data.findings],
        )
        if not evaluation.report.passed:
            failed = [f"{g.name}: {g.detail}" for g in evaluation.report.failed]
            wb.finish(result.to_dict(), evaluation.plot)
            raise GateFailedError(failed, result.to_dict())
        if register:
            with clock.step("register", "logging the model and registering it"):
                result.registered = register_candidate(
                    spec, data, evaluation, candidate, registry, run_id, base_dir, actor
                )
        else:  # a later step registers it: conveyor register --run-id (a pipeline's condition)
            with clock.step("log", "logging the model for a later conveyor register"):
                log_candidate(spec, data, evaluation, candidate, run_id, base_dir)
        wb.finish(result.to_dict(), evaluation.plot)
    return result


def _log_inputs(spec: ProjectSpec, data: Any) -> None:
    import mlflow

    train = data.frame.loc[data.x_train.index]
    for frame, context in ((train, "training"), (data.raw_test, "holdout")):
        dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
            frame, targets=spec.data.target, name=f"{spec.name}-{context}"
        )
        mlflow.log_input(dataset, context=context, tags={"source": data.source, **data.lineage})


def _params_hash(spec: ProjectSpec, params: dict[str, Any]) -> str:
    payload = json.dumps(
        {"estimator": spec.model.estimator or spec.model.train_function, "params": params},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_run_info(result: RunResult, path: Path) -> Path:
    path.write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    return path
