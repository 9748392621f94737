"""The missing share of a column (any kind), and Fisher's exact test of its change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.monitoring.drift.statistic import Measure

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column


class MissingShare:
    """The current window's missing share (the reference's beside it); a p-value only when
    either side has a missing value, since the test of 0 against 0 says nothing."""

    name = "missing"

    def measure(self, column: Column) -> Measure | None:
        from conveyor.monitoring.stats import missing_test

        ref, cur = column.counted
        ref_rows, ref_missing = ref.rows, ref.missing
        cur_rows, cur_missing = cur.rows, cur.missing
        p_value = None
        if ref_missing + cur_missing > 0 and cur_rows > 0 and ref_rows > 0:
            p_value = missing_test(ref_missing, ref_rows, cur_missing, cur_rows)
        return Measure(
            value=cur_missing / cur_rows if cur_rows else 0.0,
            p_value=p_value,
            reference=ref_missing / ref_rows if ref_rows else 0.0,
        )
