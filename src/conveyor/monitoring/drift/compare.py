"""The two entry points of a drift check: raw columns against raw columns, and a training
profile against a window of live counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind
from conveyor.monitoring.drift.config import DriftConfig
from conveyor.monitoring.drift.evidence import FeatureEvidence, measure_feature
from conveyor.monitoring.drift.registry import default_statistics
from conveyor.monitoring.drift.verdict import conclude
from conveyor.monitoring.samples import (
    category_counts,
    numeric_reference,
    numeric_sample,
    reference_from_profile,
)

if TYPE_CHECKING:
    import numpy as np

    from conveyor.monitoring.drift.columns import Current, Reference
    from conveyor.monitoring.drift.result import DriftReport
    from conveyor.monitoring.window import WindowCounts


def infer_kind(values: np.ndarray) -> Kind:
    """Like ``conveyor.data.schema.column_kind``: booleans, numbers, everything else."""
    if values.dtype.kind == "b":
        return Kind.BOOLEAN
    return Kind.NUMERIC if values.dtype.kind in "iuf" else Kind.CATEGORICAL


def reference_sample(values: Any, kind: Kind, config: DriftConfig) -> Reference:
    """A raw reference column, summarised for ``measure_feature``."""
    if kind is Kind.NUMERIC:
        return numeric_reference(values, config.bins)
    return category_counts(values)


def current_sample(values: Any, kind: Kind) -> Current:
    """A raw current column, summarised for ``measure_feature``."""
    return numeric_sample(values) if kind is Kind.NUMERIC else category_counts(values)


def compare_arrays(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    config: DriftConfig | None = None,
    *,
    kinds: Mapping[str, Kind] | None = None,
    prediction: str | None = None,
) -> DriftReport:
    """Raw vs raw: every column present in both mappings (``prediction`` names the model's
    output column, reported apart). Kinds are inferred from the reference's dtypes."""
    import numpy as np

    config = config or DriftConfig()
    statistics = default_statistics()
    evidence: list[FeatureEvidence] = []
    predicted: FeatureEvidence | None = None
    for name in [n for n in reference if n in current]:
        ref_values = np.asarray(reference[name])
        kind = (kinds or {}).get(name) or infer_kind(ref_values)
        item = measure_feature(
            name,
            kind,
            reference_sample(ref_values, kind, config),
            current_sample(current[name], kind),
            config,
            statistics,
        )
        if name == prediction:
            predicted = item
        else:
            evidence.append(item)
    return conclude(evidence, config, predicted)


def compare_window(
    profile: Mapping[str, Any], window: WindowCounts, config: DriftConfig | None = None
) -> DriftReport:
    """A reference profile against a window of counts kept over its bins."""
    config = config or DriftConfig()
    statistics = default_statistics()
    rows = int(profile.get("rows", 0))
    samples = window.samples()
    evidence = [
        measure_feature(
            name,
            Kind(entry["kind"]),
            reference_from_profile(entry, rows),
            samples[name],
            config,
            statistics,
        )
        for name, entry in profile.get("features", {}).items()
    ]
    predicted = None
    entry = profile.get("prediction")
    if entry and window.prediction is not None and window.prediction.rows:
        predicted = measure_feature(
            "prediction",
            Kind(entry["kind"]),
            reference_from_profile(entry, 0),
            window.prediction.snapshot(),
            config,
            statistics,
        )
    return conclude(evidence, config, predicted)
