"""The two-sample Kolmogorov-Smirnov test: a numeric column's test when both sides hold values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.monitoring.drift.columns import NumericColumn
from conveyor.monitoring.drift.statistic import Measure

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column


class KolmogorovSmirnov:
    """Exact KS (p-values as ``scipy.stats.ks_2samp``) on the raw values. On counts over bins
    it does not apply: a KS on ten bins is a different, undocumented test."""

    name = "ks"

    def measure(self, column: Column) -> Measure | None:
        from conveyor.monitoring.stats import ks_test

        if not isinstance(column, NumericColumn) or column.values is None:
            return None
        statistic, p_value = ks_test(*column.values)
        return Measure(statistic, p_value)
