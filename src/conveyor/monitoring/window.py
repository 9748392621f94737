"""``WindowCounts``: a window of live traffic summarised over a reference profile's bins.

A server keeps one per model version and window: ``update`` takes a batch as one numpy array
per feature and adds its counts, vectorised (a sort and a few binary searches per numeric
column, ``searchsorted`` + ``bincount`` per categorical one, no per-row Python). Its size is
fixed by the profile whatever the traffic: per numeric feature ``bins + 2`` counts (below the
reference minimum, the reference's quantile bins, above its maximum) and a missing count; per
categorical feature one count per reference category, an unseen count and a missing count.
``compare_window`` (in ``drift``) turns it into a report. Not thread-safe: one owner updates
it, and ``merge`` combines the windows of several workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.errors import DataError, Problem
from conveyor.monitoring.samples import (
    CategoryCounts,
    NumericBins,
    NumericReference,
    as_strings,
    missing_mask,
    reference_from_profile,
)

if TYPE_CHECKING:
    import numpy as np


@dataclass
class NumericCounter:
    edges: np.ndarray
    counts: np.ndarray
    rows: int = 0
    missing: int = 0
    below_excess: float = 0.0
    above_excess: float = 0.0

    def add(self, values: Any) -> None:
        import numpy as np

        array = np.asarray(values, dtype=float).ravel()
        present = array[np.isfinite(array)]
        if self.edges.size:
            # what ``bin_sorted`` counts, without sorting: the live path bins every row served
            lo, hi = self.edges[0], self.edges[-1]
            below, above = present < lo, present > hi
            inside = present[~(below | above)]
            at = np.searchsorted(self.edges[1:-1], inside, side="right")
            self.counts[1:-1] += np.bincount(at, minlength=self.edges.size - 1)
            self.counts[0] += int(below.sum())
            self.counts[-1] += int(above.sum())
            self.below_excess += float((lo - present[below]).sum())
            self.above_excess += float((present[above] - hi).sum())
        else:  # the reference had no values: no bins, just how many values arrived
            self.counts[0] += present.size
        self.rows += array.size
        self.missing += array.size - present.size

    def merge(self, other: NumericCounter) -> None:
        self.counts += other.counts
        self.rows += other.rows
        self.missing += other.missing
        self.below_excess += other.below_excess
        self.above_excess += other.above_excess

    def snapshot(self) -> NumericBins:
        return NumericBins(
            self.edges,
            self.counts.copy(),
            self.rows,
            self.missing,
            self.below_excess,
            self.above_excess,
        )


@dataclass
class CategoryCounter:
    categories: np.ndarray  # the reference's labels, sorted
    counts: np.ndarray
    rows: int = 0
    missing: int = 0
    unseen: int = 0

    def add(self, values: Any) -> None:
        import numpy as np

        array = np.asarray(values).ravel()
        missing = missing_mask(array)
        if array.dtype.kind in "OUS" and not self._empty_is_a_category:
            # "" is how the server (and BYTES tensors, and CSVs) carry a missing category:
            # missing here too, as in the reference, never an unseen category
            missing |= np.asarray(array == "", dtype=bool)
        present = array[~missing]
        if present.dtype.kind in "biu":  # class ids and flags: count first, name the few
            present, weights = np.unique(present, return_counts=True)
        else:
            weights = np.ones(present.size, dtype=np.int64)
        labels = as_strings(present)
        if self.categories.size and labels.size:
            at = np.minimum(np.searchsorted(self.categories, labels), self.categories.size - 1)
            known = self.categories[at] == labels
            self.counts += np.bincount(
                at[known], weights=weights[known], minlength=self.categories.size
            ).astype(np.int64)
            self.unseen += int(weights[~known].sum())
        else:
            self.unseen += int(weights.sum())
        self.rows += array.size
        self.missing += int(missing.sum())

    def __post_init__(self) -> None:
        # decided once per counter, not on every batch the server observes
        self._empty_is_a_category = bool((self.categories == "").any())

    def merge(self, other: CategoryCounter) -> None:
        self.counts += other.counts
        self.rows += other.rows
        self.missing += other.missing
        self.unseen += other.unseen

    def snapshot(self) -> CategoryCounts:
        counts = {str(c): int(n) for c, n in zip(self.categories, self.counts, strict=True)}
        return CategoryCounts(counts, self.rows, self.missing, self.unseen)


Counter = NumericCounter | CategoryCounter


def _counter(reference: NumericReference | CategoryCounts) -> Counter:
    import numpy as np

    if isinstance(reference, NumericReference):
        edges = reference.bins.edges
        return NumericCounter(edges, np.zeros(edges.size + 1 if edges.size else 1, np.int64))
    categories = np.asarray(sorted(reference.counts), dtype=str)
    return CategoryCounter(categories, np.zeros(categories.size, np.int64))


@dataclass
class WindowCounts:
    """Counts of one window of traffic per feature (and for the predictions) over a profile."""

    features: dict[str, Counter]
    prediction: Counter | None = None
    rows: int = 0
    kinds: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> WindowCounts:
        """An empty window over the bins and categories of a reference profile."""
        rows = int(profile.get("rows", 0))
        entries: Mapping[str, Any] = profile.get("features", {})
        features = {n: _counter(reference_from_profile(e, rows)) for n, e in entries.items()}
        kinds = {n: str(e.get("kind")) for n, e in entries.items()}
        prediction_entry = profile.get("prediction")
        prediction = None
        if prediction_entry:
            prediction = _counter(reference_from_profile(prediction_entry, 0))
        return cls(features, prediction, 0, kinds)

    def update(self, columns: Mapping[str, Any], predictions: Any = None) -> None:
        """Add a batch: one array per feature, all of one length. A feature the batch lacks
        counts as missing in every row, so a column dropped upstream shows as missing share."""
        import numpy as np

        arrays = {n: np.asarray(v) for n, v in columns.items() if n in self.features}
        lengths = {n: len(a) for n, a in arrays.items()}
        batch = max(lengths.values(), default=0)
        short = [
            Problem(n, f"has {k} rows, the batch {batch}") for n, k in lengths.items() if k != batch
        ]
        if short:
            raise DataError("window update", short)
        for name, counter in self.features.items():
            counter.add(arrays[name] if name in arrays else np.full(batch, np.nan))
        if predictions is not None and self.prediction is not None:
            self.prediction.add(predictions)
        self.rows += batch

    def merge(self, other: WindowCounts) -> None:
        """Add another window over the same profile (another worker's, another period's)."""
        if other.features.keys() != self.features.keys():
            raise DataError("window merge", [Problem("", "windows over different profiles")])
        for name, counter in self.features.items():
            counter.merge(other.features[name])  # type: ignore[arg-type]  # same profile, same kinds
        if self.prediction is not None and other.prediction is not None:
            self.prediction.merge(other.prediction)  # type: ignore[arg-type]
        self.rows += other.rows

    def samples(self) -> dict[str, NumericBins | CategoryCounts]:
        """The current counts of every feature (copies; the window keeps counting)."""
        return {name: counter.snapshot() for name, counter in self.features.items()}
