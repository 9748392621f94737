"""The statistics behind the rollout checks, on plain arrays; no verdicts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_DECILES = 10


def two_proportion(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of H1: x1/n1 > x2/n2; (z, one-sided p)."""
    from scipy import stats

    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, float(stats.norm.sf(z))


def wilson_upper(k: int, n: int, z: float) -> float:
    """Upper Wilson score bound of a proportion k/n."""
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def ratio(candidate: float, champion: float) -> float:
    if champion > 0:
        return candidate / champion
    return 1.0 if candidate <= 0 else math.inf


def shift(
    reference: Sequence[Any], current: Sequence[Any], categorical: bool | None
) -> tuple[float, float]:
    """PSI and chi-square p-value of ``current`` against ``reference``, binned on the
    reference (its classes, or its deciles plus a missing bin); ``None`` guesses the kind."""
    from conveyor.monitoring import stats

    ref, cur = binned(reference, current, categorical)
    ref, cur = stats.pool_sparse(ref, cur)
    return stats.psi(ref, cur), stats.chi_square(ref, cur)[1]


def binned(
    reference: Sequence[Any], current: Sequence[Any], categorical: bool | None
) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    numeric: tuple[np.ndarray, np.ndarray] | None = None
    if categorical is not True:
        try:
            numeric = floats(reference), floats(current)
        except (TypeError, ValueError):
            numeric = None
    if numeric is None:
        ref_l, cur_l = labels(reference), labels(current)
        names, codes = np.unique(np.concatenate((ref_l, cur_l)), return_inverse=True)
        ref_c = np.bincount(codes[: ref_l.size], minlength=names.size)
        cur_c = np.bincount(codes[ref_l.size :], minlength=names.size)
        return ref_c.astype(float), cur_c.astype(float)
    ref_f, cur_f = numeric
    finite = ref_f[np.isfinite(ref_f)]
    edges = (
        np.unique(np.quantile(finite, np.linspace(0, 1, _DECILES + 1)[1:-1]))
        if finite.size
        else np.empty(0)
    )

    def counts(values: np.ndarray) -> np.ndarray:
        ok = np.isfinite(values)
        inside = np.bincount(
            np.searchsorted(edges, values[ok], side="right"), minlength=edges.size + 1
        )
        return np.append(inside, np.count_nonzero(~ok)).astype(float)

    return counts(ref_f), counts(cur_f)


def floats(values: Sequence[Any]) -> np.ndarray:
    import numpy as np

    array = np.asarray(values, dtype=float)  # None -> nan; strings raise ValueError
    return array.reshape(-1)


def labels(values: Sequence[Any]) -> np.ndarray:
    """Class labels compared as text, so 1, 1.0 and "1" (JSON round trips) are one class."""
    import numpy as np

    def text(value: Any) -> str:
        if value is None:
            return "<missing>"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return np.array([text(v) for v in items], dtype=object).astype(str)


def margin_test(x1: int, n1: int, x2: int, n2: int, margin: float) -> float:
    """One-sided p-value of H1: x1/n1 - x2/n2 > margin.

    Agresti–Caffo: one success and one failure are added to each group, which keeps the Wald
    statistic honest at small counts (a group with no errors still has a variance).
    """
    from scipy import stats

    p1, p2 = (x1 + 1) / (n1 + 2), (x2 + 1) / (n2 + 2)
    se = math.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2))
    return float(stats.norm.sf((p1 - p2 - margin) / se))


def mean_margin_test(a: np.ndarray, b: np.ndarray, factor: float) -> float:
    """One-sided p-value of H1: mean(a) > factor * mean(b) (Welch's z on the two means)."""
    from scipy import stats

    se = math.sqrt(a.var(ddof=1) / a.size + factor**2 * b.var(ddof=1) / b.size)
    diff = float(a.mean() - factor * b.mean())
    if se == 0:
        return 0.0 if diff > 0 else 1.0
    return float(stats.norm.sf(diff / se))


def quantile_bounds(values: np.ndarray, q: float, alpha: float) -> tuple[float, float]:
    """Distribution-free bounds of the ``q`` quantile, each holding with 1 - alpha.

    The number of values below the true quantile is Binomial(n, q), so order statistics at
    that binomial's alpha and 1 - alpha quantiles bracket it (clamped to the sample's ends).
    """
    import numpy as np
    from scipy import stats

    ordered = np.sort(values)
    n = ordered.size
    low = int(stats.binom.ppf(alpha, n, q))  # the low-th order statistic, 1-based
    high = int(stats.binom.ppf(1 - alpha, n, q)) + 1
    return float(ordered[max(low - 1, 0)]), float(ordered[min(high - 1, n - 1)])
