"""How far apart the distributions are: Wasserstein over the reference's spread for numerics,
Jensen-Shannon (base 2) for categories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.monitoring.drift.columns import NumericColumn
from conveyor.monitoring.drift.statistic import Measure

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column


class Distance:
    """Numerics: the 1-Wasserstein distance divided by the reference's std, exact on raw
    values, from the bins otherwise (uniform within a bin, exact beyond the reference's
    range). Categories: the Jensen-Shannon distance over the categories plus unseen."""

    name = "distance"

    def measure(self, column: Column) -> Measure | None:
        from conveyor.monitoring import stats

        if not isinstance(column, NumericColumn):
            return Measure(stats.jensen_shannon(*column.counts))
        if column.values is not None:
            return Measure(stats.wasserstein(*column.values) / column.scale)
        bins = column.bins
        distance = stats.wasserstein_binned(
            column.reference.bins.edges,
            column.reference.bins.counts,
            bins.counts,
            bins.below_excess,
            bins.above_excess,
        )
        return Measure(distance / column.scale)
