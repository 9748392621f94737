"""What the drift statistics read about one column, from raw values or from counts.

A numeric column is either a *sample* (its finite values, sorted: the raw path) or *bins*
(counts over the reference's quantile edges plus a below-minimum and an above-maximum bin:
the profile / live-window path). A categorical column is category counts either way.
Non-finite numbers (NaN, ±inf) count as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.data.profile import DEFAULT_BINS
from conveyor.data.schema import Kind

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class NumericSample:
    """A numeric column's finite values, sorted, and how many rows it had."""

    values: np.ndarray
    rows: int

    @property
    def missing(self) -> int:
        return self.rows - int(self.values.size)


@dataclass(frozen=True)
class NumericBins:
    """A numeric column as counts over reference edges: ``[below, bins..., above]``.

    ``below_excess`` / ``above_excess`` sum how far values beyond the reference range lie
    past its minimum / maximum (what the Wasserstein tails need).
    """

    edges: np.ndarray
    counts: np.ndarray
    rows: int
    missing: int
    below_excess: float = 0.0
    above_excess: float = 0.0

    @property
    def present(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class NumericReference:
    """The reference side of a numeric column: its bins, moments and (raw path) values."""

    bins: NumericBins
    mean: float
    std: float
    values: np.ndarray | None = None


@dataclass(frozen=True)
class CategoryCounts:
    """Category counts; ``unseen`` counts values known only as absent from the reference."""

    counts: dict[str, int]
    rows: int
    missing: int
    unseen: int = 0

    @property
    def present(self) -> int:
        return sum(self.counts.values()) + self.unseen


def missing_mask(values: np.ndarray) -> np.ndarray:
    """Where a column of any dtype is missing: NaN, ±inf, None."""
    import numpy as np

    if values.dtype.kind in "fc":
        return np.asarray(~np.isfinite(values), dtype=bool)
    if values.dtype.kind == "O":
        none = np.array(None, dtype=object)
        return np.asarray(np.equal(values, none) | np.not_equal(values, values), dtype=bool)
    return np.zeros(values.shape, dtype=bool)


def as_strings(values: np.ndarray) -> np.ndarray:
    """Category labels as the profile writes them (``str(value)``; booleans ``True``/``False``)."""
    import numpy as np

    if values.dtype.kind == "b":
        return np.where(values, "True", "False")
    return values.astype(str)


def numeric_sample(values: Any) -> NumericSample:
    """A raw numeric column as a sorted sample (one copy, one SIMD sort)."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    return NumericSample(np.sort(array[np.isfinite(array)]), int(array.size))


def category_counts(values: Any) -> CategoryCounts:
    """A raw categorical column as counts, labels sorted.

    An object column of strings (``None`` / NaN aside: how pandas holds text) is counted by
    pyarrow's hash table, as ``file_drift`` counts a file's column; through ``np.unique`` every
    value would be converted to a fixed-width string and sorted, three to seven times slower,
    more than comparing a numeric column costs. Anything else (numpy strings, booleans,
    numbers, mixed objects) goes through ``np.unique`` on the ``str`` of each value.
    """
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind == "O":
        counted = _string_counts(array)
        if counted is not None:
            return counted
    missing = missing_mask(array)
    labels, counts = np.unique(as_strings(array[~missing]), return_counts=True)
    return CategoryCounts(
        {str(k): int(v) for k, v in zip(labels, counts, strict=True)},
        int(array.size),
        int(missing.sum()),
    )


def _string_counts(array: np.ndarray) -> CategoryCounts | None:
    """Counts of an all-string column, ``None`` if it holds anything but strings and missing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # from_pandas: NaN is missing, as in missing_mask
        strings = pa.array(array.ravel(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not pa.types.is_string(strings.type):
        return None  # numbers or booleans in an object column: labelled by np.unique's path
    found = pc.value_counts(strings)
    pairs = zip(found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True)
    counts = {label: int(n) for label, n in pairs if label is not None}
    return CategoryCounts(dict(sorted(counts.items())), int(array.size), strings.null_count)


def bin_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Counts of sorted values over ``edges`` as ``[below, bins..., above]``, plus tail excesses.

    The bins follow ``conveyor.data.profile.numeric_bins``: left-closed, the last one closed.
    """
    import numpy as np

    lo, hi = edges[0], edges[-1]
    below = int(np.searchsorted(sorted_values, lo, side="left"))
    upto = int(np.searchsorted(sorted_values, hi, side="right"))
    inner = np.searchsorted(sorted_values, edges[1:-1], side="left")
    cuts = np.concatenate(([below], inner, [upto]))
    counts = np.concatenate(([below], np.diff(cuts), [sorted_values.size - upto]))
    below_excess = below * float(lo) - float(sorted_values[:below].sum())
    above_excess = float(sorted_values[upto:].sum()) - (sorted_values.size - upto) * float(hi)
    return counts.astype(np.int64), below_excess, above_excess


def numeric_bins(sample: NumericSample, edges: np.ndarray) -> NumericBins:
    """A sample counted over reference edges (one cell when the reference had none)."""
    import numpy as np

    if edges.size == 0:
        counts = np.asarray([sample.values.size], dtype=np.int64)
        return NumericBins(edges, counts, sample.rows, sample.missing)
    counts, below_excess, above_excess = bin_sorted(sample.values, edges)
    return NumericBins(edges, counts, sample.rows, sample.missing, below_excess, above_excess)


def numeric_reference(values: Any, bins: int = DEFAULT_BINS) -> NumericReference:
    """A raw reference column: quantile edges as the training profile computes them."""
    import numpy as np

    from conveyor.data.profile import numeric_bins as profile_bins

    sample = numeric_sample(values)
    edges, counts = profile_bins(sample.values, bins)
    present = sample.values
    binned = NumericBins(
        np.asarray(edges, dtype=float), _outer(counts), sample.rows, sample.missing
    )
    mean = float(present.mean()) if present.size else 0.0
    std = float(present.std()) if present.size else 0.0
    return NumericReference(binned, mean, std, present)


def reference_from_profile(entry: dict[str, Any], rows: int) -> NumericReference | CategoryCounts:
    """One entry of a reference profile (``conveyor.data.profile``) as a drift reference."""
    import numpy as np

    if entry.get("kind") == Kind.NUMERIC.value:
        counts = _outer(entry.get("bin_counts", []))
        present = int(counts.sum())
        missing = round(float(entry.get("missing_share", 0.0)) * rows)
        edges = np.asarray(entry.get("bin_edges", []), dtype=float)
        binned = NumericBins(edges, counts, max(rows, present + missing), missing)
        if "std" in entry:
            return NumericReference(binned, float(entry["mean"]), float(entry["std"]))
        mean, std = _binned_moments(edges, counts[1:-1])
        return NumericReference(binned, mean, std)
    counts_by = {str(k): int(v) for k, v in entry.get("category_counts", {}).items()}
    present = sum(counts_by.values())
    missing = round(float(entry.get("missing_share", 0.0)) * rows)
    return CategoryCounts(counts_by, max(rows, present + missing), missing)


def _outer(counts: list[int]) -> np.ndarray:
    """Reference counts with the (empty) below and above bins; one cell if no bins at all."""
    import numpy as np

    return np.asarray([0, *counts, 0] if counts else [0], dtype=np.int64)


def _binned_moments(edges: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean and std from bin midpoints, for profile entries (predictions) that lack them."""
    import numpy as np

    if edges.size < 2 or counts.sum() == 0:
        return 0.0, 0.0
    mids = (edges[:-1] + edges[1:]) / 2
    mean = float(np.average(mids, weights=counts))
    return mean, float(np.sqrt(np.average((mids - mean) ** 2, weights=counts)))
