"""The Hellinger distance between reference and current, on the cells PSI uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.monitoring.drift.statistic import Measure

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column


class Hellinger:
    """sqrt(1/2 · sum (sqrt p - sqrt q)²) over the pooled cells (numeric quantile bins open at
    both ends, or categories plus unseen): 0 for equal distributions, 1 for disjoint ones.
    Unlike PSI it needs no smoothing (an empty cell is finite) and is a true metric, bounded,
    so values of different features and windows compare directly. It informs; no verdict
    reads it."""

    name = "hellinger"

    def measure(self, column: Column) -> Measure | None:
        import numpy as np

        ref, cur = column.pooled
        if ref.sum() == 0 or cur.sum() == 0:
            return None
        p, q = ref / ref.sum(), cur / cur.sum()
        return Measure(float(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))))
