"""The two-sample chi-square test over pooled cells: the test of categories, and of numerics
known only as counts over the reference's quantile bins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.monitoring.drift.statistic import Measure

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column


class ChiSquare:
    """A 2 x k contingency table without continuity correction, on the cells PSI uses."""

    name = "chi2"

    def measure(self, column: Column) -> Measure | None:
        from conveyor.monitoring.stats import chi_square

        statistic, p_value = chi_square(*column.pooled)
        return Measure(statistic, p_value)
