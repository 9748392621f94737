"""Multiple-testing corrections across the tests of one drift report.

Checking 35 features at alpha 0.05 each raises a false alarm in most healthy windows; the
report adjusts every p-value it computed as one family. Benjamini-Hochberg (the default)
controls the false discovery rate, and under the global null (nothing drifted) the chance of
any alarm at all; Bonferroni controls that chance under any dependence, at a cost in power.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from conveyor.errors import UserError

Correction = Callable[[Sequence[float]], list[float]]


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """BH-adjusted p-values: min over k >= rank of p_(k) * m / k, capped at 1."""
    import numpy as np

    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return [float(v) for v in out]


def bonferroni(p_values: Sequence[float]) -> list[float]:
    """p * m, capped at 1."""
    m = len(p_values)
    return [min(1.0, p * m) for p in p_values]


def no_correction(p_values: Sequence[float]) -> list[float]:
    return [float(p) for p in p_values]


CORRECTIONS: dict[str, Correction] = {
    "bh": benjamini_hochberg,
    "bonferroni": bonferroni,
    "none": no_correction,
}


def correction(name: str) -> Correction:
    """The correction called ``name``; a ``UserError`` listing the valid names otherwise."""
    try:
        return CORRECTIONS[name]
    except KeyError:
        valid = ", ".join(sorted(CORRECTIONS))
        raise UserError(
            f"unknown multiple-testing correction {name!r}; use one of {valid}"
        ) from None
