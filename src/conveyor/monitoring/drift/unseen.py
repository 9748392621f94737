"""The share of a categorical column's values in categories the reference never saw."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.monitoring.drift.columns import CategoricalColumn
from conveyor.monitoring.drift.statistic import Measure

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column

# how many new categories a reason names
EXAMPLES = 3


class UnseenShare:
    """The unseen share, with a one-sided binomial p-value against the rate of new categories
    the reference itself suggests (Good-Turing: its share of categories seen once), and the
    most frequent new categories as examples."""

    name = "unseen"

    def measure(self, column: Column) -> Measure | None:
        from conveyor.monitoring.stats import unseen_test

        if not isinstance(column, CategoricalColumn):
            return None
        unseen, present = column.unseen, column.present_cur
        p_value = None
        if unseen:
            ref_present = column.present_ref
            singletons = sum(1 for n in column.reference.counts.values() if n == 1)
            expected = max(singletons / ref_present, 1 / (ref_present + 1))  # Good-Turing
            p_value = unseen_test(unseen, present, expected)
        new = column.new
        examples = tuple(sorted(new, key=lambda c: -new[c])[:EXAMPLES])
        return Measure(unseen / present, p_value, examples=examples)
