"""Weights & Biases as a second tracker (``tracking.wandb`` in the spec).

A `conveyor run` opens one W&B run beside its MLflow run and links the two both ways (the W&B
config carries the MLflow run id and tracking URI; the MLflow run carries the W&B run's path
and URL as tags). It logs the params, every tuning trial (as a step and in a ``trials`` table),
the holdout metrics, the gate report (a table and a JSON file) and the diagnostic plot. MLflow
stays the registry: W&B only mirrors what the run did. ``WANDB_MODE=offline`` (W&B's own
variable) writes the run under ``<home>/wandb`` without any network.

W&B is an optional extra (``pip install 'conveyor-mlops[wandb]'``); its errors become
``UserError``/``ServiceUnavailableError`` here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.display import clip
from conveyor.errors import ServiceUnavailableError, UserError

if TYPE_CHECKING:
    from conveyor.spec.models import ProjectSpec, WandbSpec

TAG_RUN = "conveyor.wandb.run"
TAG_URL = "conveyor.wandb.url"


class WandbRun:
    """The W&B side of one `conveyor run`; every method is a no-op when W&B is not configured."""

    def __init__(self, run: Any = None) -> None:
        self.run = run
        self._trials: list[list[Any]] = []
        self._trial_columns: list[str | int] = []

    @property
    def active(self) -> bool:
        return self.run is not None

    def link(self) -> dict[str, str]:
        """MLflow tags naming this W&B run (empty when inactive or offline without a URL)."""
        if self.run is None:
            return {}
        tags = {TAG_RUN: f"{self.run.entity or ''}/{self.run.project}/{self.run.id}".lstrip("/")}
        url = None if getattr(self.run, "offline", False) else getattr(self.run, "url", None)
        if url:
            tags[TAG_URL] = str(url)
        return tags

    def log_params(self, params: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.config.update({"params": _plain(params)}, allow_val_change=True)

    def log_trial(self, number: int, params: dict[str, Any], metric: str, value: float) -> None:
        if self.run is None:
            return
        names = sorted(params)
        if not self._trial_columns:
            self._trial_columns = ["trial", *names, f"cv_{metric}"]
        self._trials.append([number, *[_plain(params.get(n)) for n in names], value])
        self.run.log({"trial": number, f"trial/cv_{metric}": value})

    def finish(self, result: dict[str, Any], plot: Path | None) -> None:
        """Metrics, gate report, trials and plot; then close the run."""
        if self.run is None:
            return
        import wandb

        metrics = result.get("metrics", {})
        self.run.summary.update({f"holdout/{k}": v for k, v in metrics.items()})
        gates = result.get("gates", {})
        self.run.summary["gates"] = gates.get("summary", "")
        rows: list[list[Any]] = [
            [g["name"], g["outcome"], g["detail"]] for g in gates.get("gates", [])
        ]
        tables: dict[str, Any] = {
            "gates": wandb.Table(columns=["gate", "outcome", "detail"], data=rows)
        }
        if self._trials:
            tables["trials"] = wandb.Table(columns=self._trial_columns, data=self._trials)
        if plot is not None and plot.exists():
            tables["diagnostic_plot"] = wandb.Image(str(plot))
        self.run.log(tables)
        report = wandb.Artifact(f"gate-report-{self.run.id}", type="gate_report")
        with report.new_file("gate_report.json") as handle:
            import json

            json.dump(gates, handle, indent=2, default=str)
        self.run.log_artifact(report)
        self.run.finish(exit_code=0 if gates.get("passed", True) else 3)


@contextlib.contextmanager
def wandb_run(
    spec: ProjectSpec, home: Path, mlflow_run_id: str, tracking_uri: str
) -> Iterator[WandbRun]:
    """Open the W&B run when ``tracking.wandb`` is set; an inactive ``WandbRun`` otherwise.

    A failure inside the block finishes the W&B run as failed and is raised as it was."""
    config = spec.tracking.wandb
    if config is None:
        yield WandbRun()
        return
    run = _start(spec, config, home, mlflow_run_id, tracking_uri)
    tracker = WandbRun(run)
    try:
        yield tracker
    except BaseException:
        if run is not None:
            run.finish(exit_code=1)
        raise


def _start(
    spec: ProjectSpec, config: WandbSpec, home: Path, mlflow_run_id: str, tracking_uri: str
) -> Any:
    try:
        import wandb
    except ImportError:
        raise UserError(
            f"{spec.source_file}: tracking.wandb needs W&B: pip install 'conveyor-mlops[wandb]'"
        ) from None
    directory = home / "wandb"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return wandb.init(
            project=config.project,
            entity=config.entity,
            name=f"{spec.name}-{mlflow_run_id[:8]}",
            job_type="train",
            tags=[spec.name, spec.task.value, *config.tags],
            config={
                "mlflow_run_id": mlflow_run_id,
                "mlflow_tracking_uri": _redacted(tracking_uri),
                "model_name": spec.name,
                "estimator": spec.model.estimator or spec.model.train_function,
                "data_source": spec.data.source,
            },
            dir=str(directory),
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )
    except Exception as exc:  # wandb raises UsageError, CommError, ... for login and network
        raise ServiceUnavailableError(
            f"W&B run could not start ({type(exc).__name__}: {clip(str(exc), 300)}); set "
            "WANDB_API_KEY, or WANDB_MODE=offline to log locally"
        ) from None


def _redacted(uri: str) -> str:
    from conveyor.display import safe_url

    return safe_url(uri)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
