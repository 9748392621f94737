"""Data and prediction drift: per-feature evidence, one corrected family of tests, verdicts.

Two entry points share the statistics (``compare``):

- ``compare_arrays(reference, current)``: both raw. Numerics get the exact two-sample KS test
  (p-values as ``scipy.stats.ks_2samp``) and the exact Wasserstein distance.
- ``compare_window(profile, window)``: the training profile against a ``WindowCounts``
  (counts over the profile's quantile bins). Numerics get a two-sample chi-square on the bin
  counts (KS would need the values; a KS on ten bins is a different, undocumented test) and
  a Wasserstein distance from the bins (uniform within a bin, exact beyond the range).

Both: categoricals get a two-sample chi-square over the reference categories plus one
"unseen" bin; PSI on the same bins as the chi-square (quantile bins open at both ends,
cells expecting fewer than 5 counts grouped, half a count of smoothing); the distance is
Wasserstein / reference std for numerics and Jensen-Shannon (base 2) for categoricals.

The package keeps evidence and verdict apart. Each statistic is a ``DriftStatistic``
(``statistic``) in a module of its own (``ks``, ``chi_square``, ``psi``, ``distance``,
``missing``, ``unseen``, ...), listed by ``registry.default_statistics``; ``evidence.measure_feature``
measures a column with them. ``verdict.conclude`` corrects every p-value of a report as one
family and grades each feature against the thresholds of ``DriftConfig`` (the project file's
``DriftSpec``).
"""

from __future__ import annotations

from conveyor.monitoring.drift.columns import Current, Reference
from conveyor.monitoring.drift.compare import (
    compare_arrays,
    compare_window,
    current_sample,
    infer_kind,
    reference_sample,
)
from conveyor.monitoring.drift.config import DriftConfig
from conveyor.monitoring.drift.evidence import FeatureEvidence, measure_feature
from conveyor.monitoring.drift.registry import DriftStatistics, default_statistics
from conveyor.monitoring.drift.result import DriftReport, FeatureDrift, Status
from conveyor.monitoring.drift.statistic import DriftStatistic, Measure
from conveyor.monitoring.drift.verdict import MIN_REFERENCE, SEVERITY, conclude

__all__ = [
    "MIN_REFERENCE",
    "SEVERITY",
    "Current",
    "DriftConfig",
    "DriftReport",
    "DriftStatistic",
    "DriftStatistics",
    "FeatureDrift",
    "FeatureEvidence",
    "Measure",
    "Reference",
    "Status",
    "compare_arrays",
    "compare_window",
    "conclude",
    "current_sample",
    "default_statistics",
    "infer_kind",
    "measure_feature",
    "reference_sample",
]
