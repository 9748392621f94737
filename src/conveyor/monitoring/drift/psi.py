"""The population stability index: the effect size that a significant test needs to count."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.monitoring.drift.statistic import Measure

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column


class PopulationStability:
    """PSI over the chi-square's pooled cells (numeric quantile bins open at both ends, or
    categories plus unseen), half a count of smoothing per cell."""

    name = "psi"

    def measure(self, column: Column) -> Measure | None:
        from conveyor.monitoring.stats import psi

        return Measure(psi(*column.pooled))
