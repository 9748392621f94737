"""Typed sections of ``conveyor.yaml``. Unknown keys are errors, so typos never pass silently."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from conveyor.metrics import BOUNDED_METRICS, LOWER_IS_BETTER, metric_names


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SliceOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]


class DataSpec(_Section):
    """Where the data comes from and how it is split."""

    source: str = Field(description="CSV/Parquet path (relative to the spec) or sklearn:<name>.")
    target: str
    features: list[str] | None = Field(
        default=None, description="Feature columns; default every column but the target."
    )
    categorical: list[str] = Field(
        default_factory=list, description="Columns to treat as categorical even if numeric."
    )
    test_fraction: float = Field(default=0.25, gt=0, lt=1)
    seed: int = 42
    slices: dict[str, dict[str, dict[SliceOp, Any]]] = Field(
        default_factory=dict,
        description="Named subsets as column filters, e.g. {high: {alcohol: {gt: 13}}}.",
    )

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        from conveyor.data.loading import BUILTIN_DATASETS

        if value.startswith("sklearn:") and value.removeprefix("sklearn:") not in BUILTIN_DATASETS:
            names = ", ".join(f"sklearn:{n}" for n in sorted(BUILTIN_DATASETS))
            raise ValueError(f"unknown built-in dataset {value!r}; choose one of {names}")
        return value


class ModelSpec(_Section):
    """The estimator (an import path plus params) or the user's own training function."""

    estimator: str | None = Field(
        default=None, description="Import path, e.g. sklearn.linear_model.LogisticRegression."
    )
    params: dict[str, Any] = Field(default_factory=dict)
    train_function: str | None = Field(
        default=None,
        description="module:function called as fn(X_train, y_train, params) -> fitted estimator.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> ModelSpec:
        if (self.estimator is None) == (self.train_function is None):
            raise ValueError("set exactly one of 'estimator' or 'train_function'")
        if self.train_function is not None and ":" not in self.train_function:
            raise ValueError("train_function must look like 'module:function'")
        return self


class ParamRange(_Section):
    """One dimension of the tuning search space."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ParamRange:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs 'choices'")
        elif self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
        elif self.low >= self.high:
            raise ValueError("'low' must be below 'high'")
        elif self.log and self.low <= 0:
            raise ValueError("'low' must be > 0 when 'log' is true")
        return self


class TuningSpec(_Section):
    """Optuna search over the estimator's params; trials are nested MLflow runs."""

    trials: int = Field(default=20, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    metric: str | None = Field(default=None, description="Default: the task's primary metric.")
    cv_folds: int = Field(default=3, ge=2, le=20)
    search_space: dict[str, ParamRange]
    storage: str | None = Field(
        default=None, description="Optuna storage URL shared by `conveyor tune` workers."
    )
    study: str | None = Field(default=None, description="Study name; default <name>-tuning.")


class ChampionGate(_Section):
    enabled: bool = True
    metric: str | None = None
    tolerance: float = Field(default=0.01, ge=0)


class ParityGate(_Section):
    probability_tolerance: float = Field(default=1e-3, gt=0)
    regression_tolerance: float = Field(default=1e-3, gt=0)


class GatesSpec(_Section):
    """Declarative checks a candidate must pass before it is registered."""

    min: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)
    slices: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per-slice metric minimums."
    )
    champion: ChampionGate = Field(default_factory=ChampionGate)
    onnx_parity: ParityGate = Field(default_factory=ParityGate)
    allow_breaking_schema: bool = Field(
        default=False, description="Register even if the input schema breaks production's."
    )

    @field_validator("min", "max")
    @classmethod
    def _bounded(cls, value: dict[str, float]) -> dict[str, float]:
        for metric, bound in value.items():
            if metric in BOUNDED_METRICS and not (0 <= bound <= 1) and metric != "r2":
                raise ValueError(f"{metric}: must be ≥ 0 and ≤ 1")
            if metric == "r2" and bound > 1:
                raise ValueError("r2: must be ≤ 1")
        return value


class RegistrySpec(_Section):
    require_approval: bool = False


def _http_urls(cls: type, value: list[str]) -> list[str]:
    """Webhook URLs must be http(s)."""
    for url in value:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: webhooks must be http(s) URLs")
    return value


class DriftSpec(_Section):
    """When a feature counts as drifted: a corrected test AND an effect over its threshold."""

    alpha: float = Field(default=0.05, gt=0, lt=1, description="Family-wise significance level.")
    correction: Literal["bh", "bonferroni", "none"] = "bh"
    psi_warn: float = Field(default=0.2, ge=0)
    psi_alert: float = Field(default=0.3, ge=0)
    missing_warn: float = Field(default=0.05, ge=0, le=1)
    missing_alert: float = Field(default=0.2, ge=0, le=1)
    unseen_warn: float = Field(default=0.05, ge=0, le=1)
    unseen_alert: float = Field(default=0.2, ge=0, le=1)
    min_rows: int = Field(default=100, ge=1, description="Smaller windows: insufficient_data.")

    @model_validator(mode="after")
    def _warn_below_alert(self) -> DriftSpec:
        for signal in ("psi", "missing", "unseen"):
            if getattr(self, f"{signal}_warn") > getattr(self, f"{signal}_alert"):
                raise ValueError(f"{signal}_warn must not exceed {signal}_alert")
        return self


class AlertSpec(_Section):
    """Alert thresholds, evaluated by the server and shipped as Prometheus rules."""

    prediction_psi: float = Field(default=0.3, ge=0)
    accuracy_drop: float = Field(
        default=0.05, ge=0, le=1, description="Online metric below the training baseline by this."
    )
    min_label_coverage: float = Field(
        default=0.1, ge=0, le=1, description="Share of predictions with feedback before judging."
    )
    latency_p99_ms: float = Field(default=100.0, gt=0)
    error_rate: float = Field(default=0.01, ge=0, le=1, description="Share of 5xx responses.")
    min_requests_per_minute: float = Field(default=0.0, ge=0, description="0 disables.")


class MonitoringSpec(_Section):
    """What the server watches in production (carried by each registered version)."""

    window_minutes: float = Field(default=60.0, gt=0, description="The window drift is judged on.")
    interval_seconds: float = Field(default=60.0, ge=1, description="How often alerts are checked.")
    drift: DriftSpec = Field(default_factory=DriftSpec)
    alerts: AlertSpec = Field(default_factory=AlertSpec)
    webhooks: list[str] = Field(default_factory=list, description="URLs that receive alerts.")

    _urls = field_validator("webhooks")(_http_urls)


class AnalysisSpec(_Section):
    """How a rollout judges the candidate against the champion at each step."""

    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level of each one-sided test."
    )
    max_error_rate_increase: float = Field(
        default=0.01, ge=0, le=1, description="Candidate error share above the champion's by this."
    )
    max_latency_p99_ratio: float = Field(
        default=1.5, gt=0, description="Candidate p99 latency over the champion's, at most."
    )
    min_agreement: float = Field(
        default=0.9, ge=0, le=1, description="Share of paired requests with the same prediction."
    )
    agreement_tolerance: float = Field(
        default=0.05,
        ge=0,
        description="Regression: predictions agree within this share of the champion's spread.",
    )
    max_prediction_psi: float = Field(
        default=0.2, ge=0, description="PSI of candidate predictions vs the champion's, at most."
    )
    max_input_psi: float = Field(
        default=0.2, ge=0, description="PSI of a feature between the arms' inputs, at most."
    )
    max_accuracy_drop: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Online accuracy below the champion's by this (regression: RMSE above by "
        "this share).",
    )
    min_label_coverage: float = Field(
        default=0.1, ge=0, le=1, description="Share of predictions with feedback before judging."
    )
    min_requests: int = Field(default=200, ge=1, description="Requests per arm before judging.")
    min_pairs: int = Field(default=200, ge=1, description="Paired requests before judging.")
    min_labels: int = Field(default=100, ge=1, description="Labelled rows per arm before judging.")
    require_labels: bool = Field(
        default=False,
        description="Wait for enough feedback before passing a step; false judges online "
        "accuracy only once labels arrive.",
    )
    max_wait_seconds: float = Field(
        default=1800.0,
        ge=0,
        description="How long past the step's end an inconclusive analysis may wait.",
    )
    on_inconclusive: Literal["rollback", "pause", "proceed"] = Field(
        default="rollback",
        description="After max_wait_seconds: roll back, pause for a person, or go on.",
    )


class ABSpec(_Section):
    """A fixed split of traffic, each key (a user, a session) always on the same arm."""

    split: float = Field(default=50.0, gt=0, lt=100, description="Candidate share in percent.")
    sticky_key: str = Field(
        default="header:X-User",
        description="Where the key is read: header:<Name> or field:<input column>.",
    )

    @field_validator("sticky_key")
    @classmethod
    def _key(cls, value: str) -> str:
        source, _, name = value.partition(":")
        if source not in ("header", "field") or not name.strip() or name != name.strip():
            raise ValueError(f"{value!r}: use header:<Name> (e.g. header:X-User) or field:<column>")
        return value


class RolloutSpec(_Section):
    """How a candidate version reaches production: strategy, steps, analysis, notifications."""

    strategy: Literal["canary", "blue_green", "shadow", "ab"] = "canary"
    steps: list[float] = Field(
        default_factory=lambda: [5.0, 25.0, 50.0, 100.0],
        min_length=1,
        description="Canary: candidate traffic percent at each step, increasing.",
    )
    step_seconds: float = Field(
        default=300.0, gt=0, description="How long each step runs before its analysis."
    )
    assignment: Literal["request_id", "random"] = Field(
        default="request_id",
        description="Canary: pick the arm by a hash of the request id (retries stick) or at random.",
    )
    auto_promote: bool = Field(
        default=True, description="Promote when the last step passes; false waits for a person."
    )
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    ab: ABSpec = Field(default_factory=ABSpec)
    webhooks: list[str] = Field(
        default_factory=list, description="URLs that receive rollout events."
    )

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        for i, weight in enumerate(value):
            if not 0 < weight <= 100:
                raise ValueError(f"step {i + 1} ({weight:g}): a percent above 0 and at most 100")
            if i and weight <= value[i - 1]:
                raise ValueError(
                    f"step {i + 1} ({weight:g}): must send more traffic than the step before "
                    f"({value[i - 1]:g})"
                )
        return value

    _urls = field_validator("webhooks")(_http_urls)


class ProjectSpec(_Section):
    """The whole project file. ``serving`` is reserved."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    task: Task
    data: DataSpec
    model: ModelSpec
    tuning: TuningSpec | None = None
    gates: GatesSpec = Field(default_factory=GatesSpec)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    serving: dict[str, Any] = Field(default_factory=dict)
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    _source_file: str = PrivateAttr(default="conveyor.yaml")

    @property
    def source_file(self) -> str:
        """The file this spec was read from, for error messages."""
        return self._source_file

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
