"""A feature's evidence: what the registered statistics measure on it, before any verdict.

The distribution test is the first of ``TESTS`` that applies (KS on raw numeric values,
chi-square on counts); PSI, the distance, the missing and unseen shares fill their fields of
``FeatureDrift``; any other statistic lands in ``FeatureDrift.evidence`` under its name.
Whether a p-value joins the corrected family is the verdict's rule (``verdict.testable``),
applied here so ``conclude`` only corrects and grades.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from conveyor.monitoring.drift.columns import Current, Reference, column_of
from conveyor.monitoring.drift.registry import DriftStatistics, default_statistics
from conveyor.monitoring.drift.result import FeatureDrift
from conveyor.monitoring.drift.verdict import testable

if TYPE_CHECKING:
    from conveyor.data.schema import Kind
    from conveyor.monitoring.drift.columns import Column
    from conveyor.monitoring.drift.config import DriftConfig
    from conveyor.monitoring.drift.statistic import Measure

# the distribution tests, in order of preference: the first that applies is the feature's test
TESTS = ("ks", "chi2")
# statistics with a field of their own in FeatureDrift; the others are reported by name
FIELDS = frozenset({*TESTS, "psi", "distance", "missing", "unseen"})


@dataclass(frozen=True)
class FeatureEvidence:
    """A feature's statistics before correction: ``FeatureDrift`` plus the raw p-values of
    the missing and unseen tests and whether each test joins the corrected family."""

    drift: FeatureDrift
    testable: bool
    missing_p: float | None = None
    unseen_p: float | None = None
    notes: tuple[str, ...] = ()
    unseen_examples: tuple[str, ...] = ()


def measure_feature(
    name: str,
    kind: Kind,
    reference: Reference,
    current: Current,
    config: DriftConfig,
    statistics: DriftStatistics | None = None,
) -> FeatureEvidence:
    """The statistics of one column, before the family correction of ``conclude``."""
    statistics = statistics or default_statistics()
    column = column_of(name, reference, current)
    missing = statistics.get("missing").measure(column)
    assert missing is not None  # measured on every column
    counted_ref, counted_cur = column.counted
    missing_p = missing.p_value if counted_cur.rows >= config.min_rows else None
    drift = FeatureDrift(
        name=name,
        kind=kind.value,
        test=None,
        statistic=None,
        p_value=None,
        p_adjusted=None,
        psi=None,
        distance=None,
        missing_share_ref=missing.reference or 0.0,
        missing_share_cur=missing.value,
        missing_p_adjusted=None,
        unseen_share=None,
        unseen_p_adjusted=None,
        rows_ref=counted_ref.rows,
        rows_cur=counted_cur.rows,
    )
    ref_present, cur_present = column.present_ref, column.present_cur
    if ref_present == 0 or cur_present == 0:
        side = "reference" if ref_present == 0 else "current window"
        return FeatureEvidence(drift, False, missing_p, notes=(f"no values in the {side}",))
    test, found = _test(column, statistics)
    psi = statistics.get("psi").measure(column)
    distance = statistics.get("distance").measure(column)
    unseen = statistics.get("unseen").measure(column)
    extra = {s.name: s.measure(column) for s in statistics if s.name not in FIELDS}
    joins, notes = testable(ref_present, cur_present, config)
    drift = replace(
        drift,
        test=test,
        statistic=found.value,
        p_value=found.p_value,
        psi=psi.value if psi else None,
        distance=distance.value if distance else None,
        unseen_share=unseen.value if unseen else None,
        evidence={n: m.value for n, m in extra.items() if m is not None},
    )
    unseen_p = unseen.p_value if unseen and joins else None
    examples = unseen.examples if unseen else ()
    return FeatureEvidence(drift, joins, missing_p, unseen_p, notes, examples)


def _test(column: Column, statistics: DriftStatistics) -> tuple[str, Measure]:
    for name in TESTS:
        found = statistics.get(name).measure(column)
        if found is not None:
            return name, found
    raise AssertionError("chi2 applies to every column")  # pragma: no cover
