"""The ``registry`` and ``tracking`` sections: approval before production, trackers beside
MLflow."""

from __future__ import annotations

from pydantic import Field

from conveyor.spec.base import SpecSection


class RegistrySpec(SpecSection):
    """How versions move through the registry."""

    require_approval: bool = Field(
        default=False,
        description="A version needs `conveyor approve` before it can be promoted to production.",
    )


class WandbSpec(SpecSection):
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


class TrackingSpec(SpecSection):
    """Trackers beside MLflow."""

    wandb: WandbSpec | None = Field(
        default=None,
        description="Also log each run (params, tuning trials, metrics, gate report, plot) to "
        "W&B, linked both ways with the MLflow run; WANDB_MODE=offline logs locally.",
        examples=[{"project": "wine-models"}],
    )
