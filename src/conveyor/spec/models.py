"""Typed sections of ``conveyor.yaml``. Unknown keys are errors, so typos never pass silently."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from conveyor.metrics import BOUNDED_METRICS, LOWER_IS_BETTER, metric_names


class Task(StrEnum):
    """What the model predicts: a class label or a number."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SliceOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]


class FeastSpec(_Section):
    """Features from a Feast feature store: ``data.source`` holds the labelled entity rows
    (entity keys, their event time, the target); the features are joined to them point in time
    correct from the store's offline store."""

    repo: str = Field(
        description="The Feast repository (its feature_store.yaml), relative to the project file.",
        examples=["feature_repo"],
    )
    features: list[str] = Field(
        min_length=1,
        description="Feature references, feature_view:feature; the model's features, in order.",
        examples=[["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]],
    )
    timestamp: str = Field(
        default="event_timestamp",
        description="The column of the labelled rows saying when each label's event happened: "
        "features are taken as they were then.",
    )
    defaults: dict[str, float | str] | None = Field(
        default=None,
        description="Served from entity keys: the feature values for an entity the online "
        "store does not know, one per feature. Without them such a row is refused (422, "
        "naming its key).",
        examples=[{"conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 10}],
    )
    max_age_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="The online store is stale when its last materialization ended longer "
        "ago than this: the server shows each view's age on /metrics "
        "(conveyor_feature_age_seconds) and ConveyorFeaturesStale fires.",
    )

    @field_validator("features")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        for ref in value:
            view, sep, name = ref.partition(":")
            if not sep or not view or not name or ":" in name:
                raise ValueError(f"{ref!r}: a feature reference is feature_view:feature")
        names = [ref.partition(":")[2] for ref in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"feature names must differ across views: {', '.join(twice)}")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> FeastSpec:
        if self.defaults is not None:
            names = [ref.partition(":")[2] for ref in self.features]
            missing = [n for n in names if n not in self.defaults]
            unknown = [n for n in self.defaults if n not in names]
            if missing or unknown:
                said = [f"no default for {', '.join(missing)}"] if missing else []
                said += [f"not a feature: {', '.join(unknown)}"] if unknown else []
                raise ValueError(f"defaults: {'; '.join(said)}")
        return self


class DataSpec(_Section):
    """Where the data comes from and how it is split."""

    source: str = Field(
        description="CSV/Parquet path (relative to the spec) or sklearn:<name> "
        "(breast_cancer, diabetes, iris, wine).",
        examples=["data/train.csv"],
    )
    target: str = Field(description="The column to predict.", examples=["target"])
    features: list[str] | None = Field(
        default=None,
        description="Feature columns; default every column but the target. To leave columns "
        "out, list the ones to keep.",
        examples=[["alcohol", "malic_acid", "color_intensity"]],
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="Columns to treat as categorical even if numeric (text columns always are).",
        examples=[["region"]],
    )
    test_fraction: float = Field(
        default=0.25, gt=0, lt=1, description="Share of rows held out to evaluate and gate."
    )
    seed: int = Field(default=42, description="Seed of the split and of the estimator.")
    drop_missing_target: bool = Field(
        default=False,
        description="Train on the labelled rows only: rows whose target is missing are dropped "
        "(and counted in a warning) instead of failing validation.",
    )
    dates: Literal["exclude", "parts"] = Field(
        default="exclude",
        description="Date and timestamp columns (datetime, or text that parses as dates): "
        "exclude leaves them out of the features; parts replaces each by numeric "
        "<column>_year, _month, _day, _weekday (and _hour when it holds times), which "
        "requests then carry.",
        examples=["parts"],
    )
    feast: FeastSpec | None = Field(
        default=None,
        description="Join features from a Feast feature store to the rows of data.source "
        "(entity keys, event time, target) instead of reading them from it.",
    )
    slices: dict[str, dict[str, dict[SliceOp, Any]]] = Field(
        default_factory=dict,
        description="Named subsets of the holdout as column filters (ops: eq, ne, gt, ge, lt, "
        "le, in, not_in; several filters combine with AND), evaluated per slice and gated by "
        "gates.slices.",
        examples=[{"high_alcohol": {"alcohol": {"gt": 13}}}],
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
        default=None,
        description="Import path of a scikit-learn-style estimator class; set this or "
        "train_function.",
        examples=["sklearn.ensemble.RandomForestClassifier"],
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments of the estimator (checked against its parameters), or the "
        "params passed to train_function.",
        examples=[{"n_estimators": 200, "max_depth": 8}],
    )
    train_function: str | None = Field(
        default=None,
        description="module:function called as fn(X_train, y_train, params) → fitted estimator "
        "(the module is imported from the project directory); set this or estimator.",
        examples=["train:fit"],
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

    type: Literal["float", "int", "categorical"] = Field(
        description="How the parameter is sampled.", examples=["float"]
    )
    low: float | None = Field(
        default=None, description="Lowest value (float and int).", examples=[0.01]
    )
    high: float | None = Field(
        default=None, description="Highest value (float and int).", examples=[100]
    )
    log: bool = Field(
        default=False, description="Sample on a log scale (needs low > 0).", examples=[True]
    )
    choices: list[Any] | None = Field(
        default=None,
        description="The values to choose from (categorical).",
        examples=[["l1", "l2"]],
    )

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

    trials: int = Field(default=20, ge=1, description="Trials of one `conveyor run` or worker.")
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Stop starting trials after this many seconds.",
        examples=[600],
    )
    metric: str | None = Field(
        default=None,
        description="Metric to optimise; default the task's primary metric (f1_macro, rmse).",
        examples=["roc_auc"],
    )
    cv_folds: int = Field(
        default=3, ge=2, le=20, description="Folds of the cross-validation on the training split."
    )
    search_space: dict[str, ParamRange] = Field(
        description="Estimator parameter → its range; each name must be a parameter of the "
        "estimator.",
        examples=[{"C": {"type": "float", "low": 0.01, "high": 100, "log": True}}],
    )
    storage: str | None = Field(
        default=None,
        description="Optuna storage URL shared by `conveyor tune` workers.",
        examples=["postgresql+psycopg://optuna@db/optuna"],
    )
    study: str | None = Field(
        default=None, description="Study name; default <name>-tuning.", examples=["wine-tuning"]
    )
    backend: Literal["optuna", "ray"] = Field(
        default="optuna",
        description="Where trials run: optuna in this process (workers share storage), or ray: "
        "Ray Tune with the same seeded Optuna sampler, on a local Ray or the cluster at "
        "RAY_ADDRESS (pip install 'conveyor-mlops[ray]').",
        examples=["ray"],
    )


class ChampionGate(_Section):
    """The candidate against the version in production, on the same holdout."""

    enabled: bool = Field(default=True, description="Compare with production when there is one.")
    metric: str | None = Field(
        default=None,
        description="Metric compared; default the task's primary metric (f1_macro, rmse).",
        examples=["accuracy"],
    )
    tolerance: float = Field(
        default=0.01, ge=0, description="How much worse than production the candidate may be."
    )


class ParityGate(_Section):
    """The exported ONNX graph must predict what the scikit-learn model predicts."""

    probability_tolerance: float = Field(
        default=1e-3,
        gt=0,
        description="Classification: largest absolute probability difference allowed (labels "
        "must match exactly).",
    )
    regression_tolerance: float = Field(
        default=1e-3,
        gt=0,
        description="Regression: largest difference allowed, relative to the value (at least 1).",
    )
    on_mismatch: Literal["fail", "pyfunc"] = Field(
        default="fail",
        description="When the graph does not match: fail (nothing is registered), or register "
        "the version without its ONNX graph and serve the exact model through MLflow pyfunc "
        "(slower).",
    )


class GatesSpec(_Section):
    """Declarative checks a candidate must pass before it is registered."""

    min: dict[str, float] = Field(
        default_factory=dict,
        description="Metric → lowest value allowed on the holdout.",
        examples=[{"accuracy": 0.9, "f1_macro": 0.85}],
    )
    max: dict[str, float] = Field(
        default_factory=dict,
        description="Metric → highest value allowed (error metrics such as rmse, log_loss).",
        examples=[{"rmse": 60}],
    )
    slices: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Slice (from data.slices) → metric → lowest value allowed on it.",
        examples=[{"high_alcohol": {"accuracy": 0.8}}],
    )
    champion: ChampionGate = Field(
        default_factory=ChampionGate, description="Comparison with the production version."
    )
    onnx_parity: ParityGate = Field(
        default_factory=ParityGate, description="ONNX export against scikit-learn."
    )
    allow_breaking_schema: bool = Field(
        default=False,
        description="Register even if the input schema breaks production's (a major version).",
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
    """How versions move through the registry."""

    require_approval: bool = Field(
        default=False,
        description="A version needs `conveyor approve` before it can be promoted to production.",
    )


class WandbSpec(_Section):
    """A Weights & Biases project that mirrors every run (MLflow stays the registry)."""

    project: str = Field(
        min_length=1, description="W&B project the runs go to.", examples=["wine-models"]
    )
    entity: str | None = Field(
        default=None, description="W&B team or user; default the API key's.", examples=["acme"]
    )
    tags: list[str] = Field(
        default_factory=list, description="Extra W&B tags on each run.", examples=[["nightly"]]
    )


class TrackingSpec(_Section):
    """Trackers beside MLflow."""

    wandb: WandbSpec | None = Field(
        default=None,
        description="Also log each run (params, tuning trials, metrics, gate report, plot) to "
        "W&B, linked both ways with the MLflow run; WANDB_MODE=offline logs locally.",
        examples=[{"project": "wine-models"}],
    )


class WebhookSpec(_Section):
    """A webhook with the shape of its body: Conveyor's JSON event, or a Slack message."""

    url: str = Field(description="The http(s) URL events are POSTed to.")
    format: Literal["json", "slack"] = Field(
        default="json",
        description="json: the event as Conveyor's JSON (signed); slack: {text: ...} for a Slack "
        "incoming webhook (or any receiver of Slack's format: Mattermost, Rocket.Chat).",
    )


def _http_urls(cls: type, value: list[str | WebhookSpec]) -> list[str | WebhookSpec]:
    """Webhook URLs must be http(s)."""
    for hook in value:
        url = hook if isinstance(hook, str) else hook.url
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: webhooks must be http(s) URLs")
    return value


class DriftSpec(_Section):
    """When a feature counts as drifted: a corrected test AND an effect over its threshold."""

    alpha: float = Field(default=0.05, gt=0, lt=1, description="Family-wise significance level.")
    correction: Literal["bh", "bonferroni", "none"] = Field(
        default="bh",
        description="Correction for testing many features: Benjamini-Hochberg, Bonferroni, none.",
    )
    psi_warn: float = Field(default=0.2, ge=0, description="PSI of a feature that warns.")
    psi_alert: float = Field(default=0.3, ge=0, description="PSI of a feature that is drift.")
    missing_warn: float = Field(
        default=0.05, ge=0, le=1, description="Change of a feature's missing share that warns."
    )
    missing_alert: float = Field(
        default=0.2, ge=0, le=1, description="Change of a feature's missing share that is drift."
    )
    unseen_warn: float = Field(
        default=0.05, ge=0, le=1, description="Share of values in unseen categories that warns."
    )
    unseen_alert: float = Field(
        default=0.2, ge=0, le=1, description="Share of values in unseen categories that is drift."
    )
    min_rows: int = Field(
        default=100,
        ge=1,
        description="Rows a window needs before drift is judged; smaller: insufficient_data.",
    )

    @model_validator(mode="after")
    def _warn_below_alert(self) -> DriftSpec:
        for signal in ("psi", "missing", "unseen"):
            if getattr(self, f"{signal}_warn") > getattr(self, f"{signal}_alert"):
                raise ValueError(f"{signal}_warn must not exceed {signal}_alert")
        return self


class AlertSpec(_Section):
    """Alert thresholds, evaluated by the server and shipped as Prometheus rules."""

    prediction_psi: float = Field(
        default=0.3, ge=0, description="PSI of the predictions against the holdout's that alerts."
    )
    accuracy_drop: float = Field(
        default=0.05, ge=0, le=1, description="Online metric below the training baseline by this."
    )
    min_accuracy: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Classification: online accuracy below this alerts, whatever the baseline "
        "(an absolute floor beside the drop); unset: no floor.",
        examples=[0.7],
    )
    min_label_coverage: float = Field(
        default=0.1, ge=0, le=1, description="Share of predictions with feedback before judging."
    )
    latency_p99_ms: float = Field(
        default=100.0, gt=0, description="p99 request latency in milliseconds that alerts."
    )
    error_rate: float = Field(default=0.01, ge=0, le=1, description="Share of 5xx responses.")
    min_requests_per_minute: float = Field(
        default=0.0, ge=0, description="Traffic below this alerts (a silent client); 0 disables."
    )
    max_requests_per_second: float = Field(
        default=10_000.0,
        ge=0,
        description="Inference traffic above this alerts (a runaway client, a retry storm, an "
        "attack; size it to what the replicas were load-tested for); 0 disables.",
        examples=[2000],
    )


class MonitoringSpec(_Section):
    """What the server watches in production (carried by each registered version)."""

    window_minutes: float = Field(default=60.0, gt=0, description="The window drift is judged on.")
    interval_seconds: float = Field(default=60.0, ge=1, description="How often alerts are checked.")
    drift: DriftSpec = Field(default_factory=DriftSpec, description="When a feature drifted.")
    alerts: AlertSpec = Field(default_factory=AlertSpec, description="Alert thresholds.")
    runbook_base_url: str = Field(
        default="docs/runbooks.md",
        description="Where the runbooks are: each alert carries runbook_url = this plus the "
        "anchor of its section (point it at your copy, e.g. the file in your Git host).",
        examples=["https://github.com/acme/models/blob/main/docs/runbooks.md"],
    )
    webhooks: list[str | WebhookSpec] = Field(
        default_factory=list,
        description="http(s) URLs that receive alerts (signed with CONVEYOR_WEBHOOK_SECRET), or "
        "{url, format: slack} for a Slack message.",
        examples=[
            [
                "https://hooks.example.com/conveyor",
                {"url": "https://hooks.slack.com/services/T0/B0/XXXX", "format": "slack"},
            ]
        ],
    )

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
    min_accuracy: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Classification: the candidate fails when its online accuracy is surely "
        "below this (an absolute floor beside the drop against the champion); unset: no floor.",
        examples=[0.7],
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
        default="pause",
        description="After max_wait_seconds: pause for a person (lack of evidence is not "
        "evidence against the candidate), roll back, or go on.",
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


# the names of ``rollout.strategies.default_strategies()``, for reading a file with no process's
# strategy registry at hand (a test keeps the two equal)
BUILT_IN_STRATEGIES = ("canary", "blue_green", "shadow", "ab")


class RolloutSpec(_Section):
    """How a candidate version reaches production: strategy, steps, analysis, notifications."""

    strategy: str = Field(
        default="canary",
        description="canary: growing traffic share; blue_green: one switch; shadow: the "
        "candidate sees copies and answers nobody; ab: a fixed sticky split.",
    )
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
    analysis: AnalysisSpec = Field(
        default_factory=AnalysisSpec, description="How each step judges the candidate."
    )
    ab: ABSpec = Field(default_factory=ABSpec, description="The split of the ab strategy.")
    webhooks: list[str | WebhookSpec] = Field(
        default_factory=list,
        description="http(s) URLs that receive rollout events, or {url, format: slack} for a "
        "Slack message.",
        examples=[["https://hooks.example.com/rollouts"]],
    )

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str, info: ValidationInfo) -> str:
        """A process's strategy registry decides which names are valid when validation is given
        it (``context={"strategies": registry}``: the CLI's flags, the admin endpoint). The spec
        sits below the rollout package and cannot ask it, so a file read alone is checked
        against the built-in names."""
        from conveyor.errors import ConveyorError

        strategies = (info.context or {}).get("strategies")
        if strategies is None:
            if value not in BUILT_IN_STRATEGIES:
                valid = ", ".join(sorted(BUILT_IN_STRATEGIES))
                raise ValueError(f"unknown rollout strategy {value!r}; use one of {valid}")
            return value
        try:
            strategies.get(value)
        except ConveyorError as exc:
            raise ValueError(exc.message) from None
        return value

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
