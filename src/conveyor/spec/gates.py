"""The ``gates`` section: the checks a candidate must pass before it is registered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from conveyor.spec.base import SpecSection
from conveyor.spec.metric_names import BOUNDED_METRICS


class ChampionGate(SpecSection):
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


class ParityGate(SpecSection):
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


class GatesSpec(SpecSection):
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
