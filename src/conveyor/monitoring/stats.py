"""The statistics of drift on sorted arrays and counts: tests, effect sizes, distances.

Pure functions, no I/O and no verdicts. Numeric samples arrive sorted (numpy's SIMD sort
makes a million values cost milliseconds), so the exact two-sample KS statistic and the exact
1-Wasserstein distance need only binary searches of the *reference's* distinct values into
the current sample: O(m log n) after the sort, instead of scipy's merge of both samples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# scipy's ks_2samp computes exact p-values up to this sample size ("auto" mode); beyond it
# the asymptotic distribution, which `ks_pvalue` reproduces without re-sorting the samples.
EXACT_KS_MAX_N = 10_000
# Cochran's rule: a chi-square cell needs an expected count of about 5 for the test to hold.
MIN_EXPECTED = 5.0
# Additive smoothing for PSI: half a count per bin (Jeffreys), so an empty bin is finite.
PSI_SMOOTHING = 0.5


def _distinct(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how many values are <= each of them."""
    import numpy as np

    starts = np.empty(sorted_values.size, dtype=bool)
    starts[:1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    distinct = sorted_values[starts]
    at_or_below = np.append(np.flatnonzero(starts)[1:], sorted_values.size)
    return distinct, at_or_below


def ks_statistic(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """sup |F_ref - F_cur|, exact, ties included (equal to scipy's ``ks_2samp`` statistic).

    On each interval between distinct reference values F_ref is constant and F_cur is
    monotone, so the supremum is at an interval's ends: F_cur at a reference value and just
    before the next one.
    """
    import numpy as np

    distinct, at_or_below = _distinct(ref_sorted)
    n_cur = cur_sorted.size
    f_ref = at_or_below / ref_sorted.size
    f_ref_before = np.concatenate(([0.0], f_ref[:-1]))
    f_cur_at = np.searchsorted(cur_sorted, distinct, side="right") / n_cur
    f_cur_before = np.searchsorted(cur_sorted, distinct, side="left") / n_cur
    return float(max(np.abs(f_ref - f_cur_at).max(), np.abs(f_ref_before - f_cur_before).max()))


def ks_test(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[float, float]:
    """Two-sample KS (two-sided): statistic and p-value as ``scipy.stats.ks_2samp`` gives them."""
    from scipy import stats

    n_ref, n_cur = ref_sorted.size, cur_sorted.size
    if max(n_ref, n_cur) <= EXACT_KS_MAX_N:
        result = stats.ks_2samp(ref_sorted, cur_sorted)
        return float(result.statistic), float(result.pvalue)
    d = ks_statistic(ref_sorted, cur_sorted)
    effective_n = round(n_ref * n_cur / (n_ref + n_cur))
    return d, float(min(1.0, max(0.0, stats.kstwo.sf(d, effective_n))))


def wasserstein(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """The exact 1-Wasserstein distance, the integral of |F_ref - F_cur|.

    Between two distinct reference values F_ref is a constant level and F_cur crosses it at
    most once, at a known order statistic of the current sample; prefix sums of the sorted
    current values then give each interval's integral in closed form.
    """
    import numpy as np

    centre = ref_sorted[ref_sorted.size // 2]  # shift for precision in the prefix sums
    ref = ref_sorted - centre
    cur = cur_sorted - centre
    n_ref, n_cur = ref.size, cur.size
    prefix = np.concatenate(([0.0], np.cumsum(cur)))

    def below_area(y: np.ndarray) -> np.ndarray:  # n_cur * integral of F_cur up to y
        count = np.searchsorted(cur, y, side="right")
        return np.asarray(y * count - prefix[count])

    distinct, at_or_below = _distinct(ref)
    lo, hi = distinct[:1], distinct[-1:]
    left_tail = below_area(lo)[0]  # F_ref = 0 before the reference minimum
    above = np.searchsorted(cur, hi, side="right")[0]
    right_tail = (prefix[-1] - prefix[above]) - hi[0] * (n_cur - above)
    total = left_tail + right_tail
    if distinct.size > 1:
        left, right = distinct[:-1], distinct[1:]
        level = at_or_below[:-1] * (n_cur / n_ref)  # n_cur * F_ref on [left, right)
        crossing_rank = -(-(at_or_below[:-1] * n_cur) // n_ref)  # ceil, in integers
        crossing = np.clip(cur[crossing_rank - 1], left, right)
        a_left, a_cross, a_right = below_area(left), below_area(crossing), below_area(right)
        inner = (
            level * (crossing - left)
            - (a_cross - a_left)
            + (a_right - a_cross)
            - level * (right - crossing)
        )
        total += float(inner.sum())
    return float(total / n_cur)


def wasserstein_binned(
    edges: np.ndarray,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    below_excess: float,
    above_excess: float,
) -> float:
    """1-Wasserstein from counts over reference edges (``[below, bins..., above]``).

    Inside the reference range both distributions are taken as uniform within a bin, so the
    CDFs are piecewise linear; outside it the current sample's summed distance beyond the
    range (``below_excess``, ``above_excess``) makes the tails exact.
    """
    import numpy as np

    n_ref, n_cur = ref_counts.sum(), cur_counts.sum()
    if n_ref == 0 or n_cur == 0:
        return 0.0
    f_ref = np.cumsum(ref_counts[:-1]) / n_ref  # CDF at each edge (below-mass included)
    f_cur = np.cumsum(cur_counts[:-1]) / n_cur
    diff = f_ref - f_cur
    d0, d1, width = diff[:-1], diff[1:], np.diff(edges)
    same_sign = d0 * d1 >= 0
    magnitude = np.abs(d0) + np.abs(d1)
    safe = np.where(magnitude > 0, magnitude, 1.0)
    area = np.where(same_sign, magnitude / 2, (d0 * d0 + d1 * d1) / (2 * safe)) * width
    return float(area.sum() + (below_excess + above_excess) / n_cur)


def pool_sparse(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop empty bins and group those with an expected count under ``MIN_EXPECTED``.

    A 2 x k table whose cells expect a fraction of a count makes the chi-square (and PSI)
    react to single rare values. Sparse bins, smallest first, are grouped until each group
    expects ``MIN_EXPECTED``; a short last group joins the one before it (or the smallest
    dense bin). The grouping looks only at column totals, never at how the rows differ.
    """
    import numpy as np

    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    n_ref, n_cur = ref.sum(), cur.sum()
    if ref.size < 2 or n_ref == 0 or n_cur == 0:
        return ref, cur
    expected = (ref + cur) * (min(n_ref, n_cur) / (n_ref + n_cur))
    sparse = expected < MIN_EXPECTED
    if not sparse.any():
        return ref, cur
    order = np.flatnonzero(sparse)[np.argsort(expected[sparse], kind="stable")]
    group = (np.ceil(np.cumsum(expected[order]) / MIN_EXPECTED) - 1).astype(np.intp)
    group_ref = np.bincount(group, weights=ref[order])
    group_cur = np.bincount(group, weights=cur[order])
    dense_ref, dense_cur = ref[~sparse].astype(float), cur[~sparse].astype(float)
    short = (group_ref[-1] + group_cur[-1]) * (min(n_ref, n_cur) / (n_ref + n_cur))
    if short < MIN_EXPECTED and group_ref.size >= 2:
        group_ref[-2] += group_ref[-1]
        group_cur[-2] += group_cur[-1]
        group_ref, group_cur = group_ref[:-1], group_cur[:-1]
    elif short < MIN_EXPECTED and dense_ref.size:
        smallest = int(np.argmin(dense_ref + dense_cur))
        dense_ref[smallest] += group_ref[-1]
        dense_cur[smallest] += group_cur[-1]
        group_ref, group_cur = group_ref[:-1], group_cur[:-1]
    return np.concatenate((dense_ref, group_ref)), np.concatenate((dense_cur, group_cur))


def chi_square(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Two-sample chi-square (2 x k contingency table, no continuity correction): stat, p."""
    import numpy as np
    from scipy import stats

    table = np.vstack((ref, cur)).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    if table.shape[1] < 2 or rows.min() == 0:
        return 0.0, 1.0
    expected = np.outer(rows, cols) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1))


def psi(ref: np.ndarray, cur: np.ndarray, smoothing: float = PSI_SMOOTHING) -> float:
    """Population stability index, sum (q - p) ln(q / p), over bins present in either sample."""
    import numpy as np

    keep = (ref + cur) > 0
    if keep.sum() < 2 or ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    p = ref[keep] + smoothing
    q = cur[keep] + smoothing
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance in base 2: 0 for equal distributions, 1 for disjoint ones."""
    import numpy as np
    from scipy.special import rel_entr

    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    p, q = ref / ref.sum(), cur / cur.sum()
    m = (p + q) / 2
    divergence = (rel_entr(p, m).sum() + rel_entr(q, m).sum()) / (2 * np.log(2))
    return float(np.sqrt(max(divergence, 0.0)))


def missing_test(ref_missing: int, ref_rows: int, cur_missing: int, cur_rows: int) -> float:
    """Fisher's exact p-value that the two windows have the same missing share."""
    from scipy import stats

    table = [[ref_rows - ref_missing, ref_missing], [cur_rows - cur_missing, cur_missing]]
    return float(stats.fisher_exact(table).pvalue)


def unseen_test(unseen: int, present: int, expected_share: float) -> float:
    """One-sided binomial p-value of at least ``unseen`` new categories at ``expected_share``."""
    from scipy import stats

    return float(stats.binom.sf(unseen - 1, present, expected_share))
