"""The ``data`` section: where the training set comes from and how it is split."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from conveyor.spec.base import SpecSection

SliceOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]


class FeastSpec(SpecSection):
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


class DataSpec(SpecSection):
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
