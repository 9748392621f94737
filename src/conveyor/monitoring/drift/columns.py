"""One column, reference against current, as every drift statistic reads it.

A statistic is handed a ``NumericColumn`` or a ``CategoricalColumn``; what several of them
share (the current sample counted over the reference's bins, the pooled cells of chi-square,
PSI and Hellinger) is computed once per column, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from conveyor.errors import UserError
from conveyor.monitoring.samples import (
    CategoryCounts,
    NumericBins,
    NumericReference,
    NumericSample,
    numeric_bins,
)

if TYPE_CHECKING:
    import numpy as np

Reference = NumericReference | CategoryCounts
Current = NumericSample | NumericBins | CategoryCounts


def fold(counts: np.ndarray) -> np.ndarray:
    """Quantile bins open at both ends: below-min joins the first bin, above-max the last,
    so a bin the reference cannot fill does not dominate the test. A single-valued reference
    keeps below / equal / above as three bins, the only way it can tell values apart."""
    import numpy as np

    if counts.size <= 3:
        return counts
    folded = counts[1:-1].copy()
    folded[0] += counts[0]
    folded[-1] += counts[-1]
    return np.asarray(folded)


class Counted(Protocol):
    """One side's rows and how many of them miss the value: what the missing-share test and
    the evidence read, alike for every kind of column (``Column.counted``)."""

    @property
    def rows(self) -> int: ...

    @property
    def missing(self) -> int: ...


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column: the reference's bins and moments (and values, on the raw path)
    against the current window's sorted values or counts over those bins."""

    reference: NumericReference
    current: NumericSample | NumericBins

    @property
    def counted(self) -> tuple[Counted, Counted]:
        """The reference's rows and missing values, then the current window's."""
        return self.reference.bins, self.current

    @property
    def present_ref(self) -> int:
        return self.reference.bins.present

    @property
    def present_cur(self) -> int:
        current = self.current
        return current.values.size if isinstance(current, NumericSample) else current.present

    @property
    def values(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Both sides' sorted finite values on the raw path; ``None`` where only counts over
        the reference's bins are known (a profile, a live window, a Spark count)."""
        current = self.current
        if isinstance(current, NumericSample) and self.reference.values is not None:
            return self.reference.values, current.values
        return None

    @property
    def scale(self) -> float:
        """What a distance is divided by: the reference's std (its mean, at least 1, when
        the reference is constant)."""
        ref = self.reference
        return ref.std if ref.std > 0 else max(abs(ref.mean), 1.0)

    @cached_property
    def bins(self) -> NumericBins:
        """The current window counted over the reference's edges."""
        current = self.current
        if isinstance(current, NumericSample):
            return numeric_bins(current, self.reference.bins.edges)
        return current

    @cached_property
    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference and current counts over the folded bins, sparse cells grouped."""
        from conveyor.monitoring.stats import pool_sparse

        return pool_sparse(fold(self.reference.bins.counts), fold(self.bins.counts))


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical (or boolean) column: category counts on both sides, compared over the
    reference's categories plus one cell for every category the reference never saw."""

    reference: CategoryCounts
    current: CategoryCounts

    @property
    def counted(self) -> tuple[Counted, Counted]:
        """The reference's rows and missing values, then the current window's."""
        return self.reference, self.current

    @property
    def present_ref(self) -> int:
        return int(self.counts[0].sum())

    @property
    def present_cur(self) -> int:
        return int(self.counts[1].sum())

    @cached_property
    def new(self) -> dict[str, int]:
        """Categories of the current window that the reference never saw, with their counts."""
        known = self.reference.counts
        return {c: n for c, n in self.current.counts.items() if c not in known and n > 0}

    @property
    def unseen(self) -> int:
        """Values in categories the reference never saw (named or known only as unseen)."""
        return self.current.unseen + sum(self.new.values())

    @cached_property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts over the reference's categories plus the unseen cell, reference first."""
        import numpy as np

        categories = list(self.reference.counts)
        ref = np.asarray([self.reference.counts[c] for c in categories] + [0], dtype=float)
        cur_counts = self.current.counts
        cur = np.asarray([cur_counts.get(c, 0) for c in categories] + [self.unseen], dtype=float)
        return ref, cur

    @cached_property
    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """The same counts with sparse cells grouped."""
        from conveyor.monitoring.stats import pool_sparse

        return pool_sparse(*self.counts)


Column = NumericColumn | CategoricalColumn


def column_of(name: str, reference: Reference, current: Current) -> Column:
    """The column a statistic reads; a column whose kind changed is refused."""
    if isinstance(reference, NumericReference):
        if isinstance(current, CategoryCounts):
            raise UserError(f"column {name!r} is numeric in the reference, categorical now")
        return NumericColumn(reference, current)
    if not isinstance(current, CategoryCounts):
        raise UserError(f"column {name!r} is categorical in the reference, numeric now")
    return CategoricalColumn(reference, current)
