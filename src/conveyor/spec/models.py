"""Typed sections of ``conveyor.yaml``. Unknown keys are errors, so typos never pass silently.

``ProjectSpec`` is the whole file; each section's models live in a module of their own
(``base``, ``data``, ``training``, ``gates``, ``tracking``, ``monitoring``, ``rollout``) and are
re-exported here, so ``from conveyor.spec.models import X`` names every one of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from conveyor.spec.base import SpecSection, Task, WebhookSpec
from conveyor.spec.data import DataSpec, FeastSpec, SliceOp
from conveyor.spec.gates import ChampionGate, GatesSpec, ParityGate
from conveyor.spec.metric_names import LOWER_IS_BETTER, metric_names
from conveyor.spec.monitoring import AlertSpec, DriftSpec, MonitoringSpec
from conveyor.spec.rollout import BUILT_IN_STRATEGIES, ABSpec, AnalysisSpec, RolloutSpec
from conveyor.spec.tracking import RegistrySpec, TrackingSpec, WandbSpec
from conveyor.spec.training import ModelSpec, ParamRange, TuningSpec

__all__ = [
    "BUILT_IN_STRATEGIES",
    "ABSpec",
    "AlertSpec",
    "AnalysisSpec",
    "ChampionGate",
    "DataSpec",
    "DriftSpec",
    "FeastSpec",
    "GatesSpec",
    "ModelSpec",
    "MonitoringSpec",
    "ParamRange",
    "ParityGate",
    "ProjectSpec",
    "RegistrySpec",
    "RolloutSpec",
    "SliceOp",
    "SpecSection",
    "Task",
    "TrackingSpec",
    "TuningSpec",
    "WandbSpec",
    "WebhookSpec",
]


class ProjectSpec(SpecSection):
    """The whole project file, ``conveyor.yaml``. Unknown keys are errors."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Registered model name (letters, digits, _ . -; up to 100 characters).",
        examples=["wine"],
    )
    task: Task = Field(
        description="What the model predicts: a class (classification) or a number (regression).",
        examples=["classification"],
    )
    data: DataSpec = Field(description="The dataset, its target and features, the split.")
    model: ModelSpec = Field(description="The estimator and its parameters.")
    tuning: TuningSpec | None = Field(
        default=None, description="Hyperparameter search; absent: params are used as given."
    )
    gates: GatesSpec = Field(
        default_factory=GatesSpec, description="Checks a candidate must pass to be registered."
    )
    registry: RegistrySpec = Field(
        default_factory=RegistrySpec, description="Approval before production."
    )
    tracking: TrackingSpec = Field(
        default_factory=TrackingSpec, description="Trackers beside MLflow (Weights & Biases)."
    )
    serving: dict[str, Any] = Field(
        default_factory=dict, description="Reserved; serving is configured by CONVEYOR_* settings."
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec, description="How a candidate reaches production."
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description="What the server watches in production."
    )
    _source_file: str = PrivateAttr(default="conveyor.yaml")
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def source_file(self) -> str:
        """The file this spec was read from, for error messages."""
        return self._source_file

    def where(self, *loc: str) -> str:
        """``model.params.C (line 7)``: a key path with its line in the file, for messages."""
        from conveyor.spec.document import located

        return located(loc, self._lines)

    @model_validator(mode="after")
    def _metrics_fit_task(self) -> ProjectSpec:
        valid = metric_names(self.task)
        unknown: list[str] = []
        for section, names in (("gates.min", self.gates.min), ("gates.max", self.gates.max)):
            unknown += [f"{section}.{n}" for n in names if n not in valid]
        for slice_name, mins in self.gates.slices.items():
            if slice_name not in self.data.slices:
                raise ValueError(f"gates.slices.{slice_name}: no such slice in data.slices")
            unknown += [f"gates.slices.{slice_name}.{n}" for n in mins if n not in valid]
        for where, metric in (
            ("gates.champion.metric", self.gates.champion.metric),
            ("tuning.metric", self.tuning.metric if self.tuning else None),
        ):
            if metric is not None and metric not in valid:
                unknown.append(where)
        if unknown:
            raise ValueError(
                f"unknown metric for a {self.task.value} task at {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(valid))}"
            )
        return self

    def primary_metric(self) -> str:
        return "f1_macro" if self.task is Task.CLASSIFICATION else "rmse"

    def higher_is_better(self, metric: str) -> bool:
        return metric not in LOWER_IS_BETTER
