"""The input schema of a model: per column a kind, nullability, range and categories.

The schema is inferred from training data, saved with each model version and used to validate
new data, build the preprocessing, compare versions (semantic version) and, later, requests.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_CATEGORIES = 1000


class Kind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Schema:
    """Features in model input order, plus the target and (for classifiers) its classes."""

    features: list[Column]
    target: str
    target_kind: Kind
    classes: list[Any] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.features]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.features if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_kind"] = self.target_kind.value
        for col in data["features"]:
            col["kind"] = col["kind"].value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_jsonable)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        features = [Column(**{**c, "kind": Kind(c["kind"])}) for c in data["features"]]
        return cls(
            features=features,
            target=data["target"],
            target_kind=Kind(data["target_kind"]),
            classes=list(data.get("classes", [])),
        )

    def incompatibilities(self, newer: Schema) -> list[str]:
        """Why a client of this schema could not call a model with ``newer``; empty if it can."""
        problems: list[str] = []
        for col in self.features:
            other = newer.column(col.name)
            if other is None:
                problems.append(f"feature {col.name!r} was removed")
            elif other.kind is not col.kind:
                problems.append(f"feature {col.name!r} changed from {col.kind} to {other.kind}")
        for col in newer.features:
            if self.column(col.name) is None and not col.nullable:
                problems.append(f"feature {col.name!r} was added and is required")
        return problems


def column_kind(series: pd.Series, force_categorical: bool = False) -> Kind:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return Kind.BOOLEAN
    if force_categorical:
        return Kind.CATEGORICAL
    if pd.api.types.is_numeric_dtype(series):
        return Kind.NUMERIC
    return Kind.CATEGORICAL


def infer_schema(
    frame: pd.DataFrame,
    features: list[str],
    target: str,
    classification: bool,
    categorical: list[str] | None = None,
) -> Schema:
    """Describe ``features`` and ``target`` of ``frame`` as a ``Schema``."""
    forced = set(categorical or [])
    columns = []
    for name in features:
        series = frame[name]
        kind = column_kind(series, name in forced)
        nullable = bool(series.isna().any())
        if kind is Kind.NUMERIC:
            present = series.dropna()
            lo = float(present.min()) if len(present) else None
            hi = float(present.max()) if len(present) else None
            columns.append(Column(name, kind, nullable, lo, hi))
        elif kind is Kind.CATEGORICAL:
            cats = sorted(str(v) for v in series.dropna().unique())[:MAX_CATEGORIES]
            columns.append(Column(name, kind, nullable, categories=cats))
        else:
            columns.append(Column(name, kind, nullable))
    y = frame[target]
    classes: list[Any] = []
    if classification:
        classes = sorted(_jsonable(v) for v in y.dropna().unique())
    target_kind = Kind.CATEGORICAL if classification else Kind.NUMERIC
    return Schema(columns, target, target_kind, classes)


def _jsonable(value: Any) -> Any:
    """numpy scalars to plain Python, so schemas and profiles serialise to JSON."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value
