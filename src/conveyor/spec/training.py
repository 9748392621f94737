"""The ``model`` and ``tuning`` sections: the estimator and the search over its params."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from conveyor.spec.base import SpecSection


class ModelSpec(SpecSection):
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


class ParamRange(SpecSection):
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


class TuningSpec(SpecSection):
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
