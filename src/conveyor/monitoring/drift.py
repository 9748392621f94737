"""Data and prediction drift: per-feature evidence, one corrected family of tests, verdicts.

Two entry points share the statistics:

- ``compare_arrays(reference, current)``: both raw. Numerics get the exact two-sample KS test
  (p-values as ``scipy.stats.ks_2samp``) and the exact Wasserstein distance.
- ``compare_window(profile, window)``: the training profile against a ``WindowCounts``
  (counts over the profile's quantile bins). Numerics get a two-sample chi-square on the bin
  counts (KS would need the values; a KS on ten bins is a different, undocumented test) and
  a Wasserstein distance from the bins (uniform within a bin, exact beyond the range).

Both: categoricals get a two-sample chi-square over the reference categories plus one
"unseen" bin; PSI on the same bins as the chi-square (quantile bins open at both ends,
cells expecting fewer than 5 counts grouped, half a count of smoothing); the distance is
Wasserstein / reference std for numerics and Jensen-Shannon (base 2) for categoricals.

A distribution change is a verdict only when its corrected p-value is under ``alpha`` AND its
PSI reaches ``psi_warn`` (warn) or ``psi_alert`` (drift): a million healthy rows make any
tiny difference significant, and the effect size keeps those quiet. Missing share (any
feature) and unseen-category share (categoricals) are signals of their own, with their own
test (Fisher exact; binomial against the reference's Good-Turing rate of new categories) and
thresholds on the share. Every p-value of a report is corrected as one family. A window
with fewer than ``min_rows`` rows gets ``insufficient_data``, never a verdict; a column with
no values is never ``ok``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conveyor.data.profile import DEFAULT_BINS
from conveyor.data.schema import Kind
from conveyor.errors import UserError
from conveyor.monitoring.samples import (
    CategoryCounts,
    NumericBins,
    NumericReference,
    NumericSample,
    category_counts,
    numeric_bins,
    numeric_reference,
    numeric_sample,
    reference_from_profile,
)

if TYPE_CHECKING:
    import numpy as np

    from conveyor.monitoring.window import WindowCounts

Reference = NumericReference | CategoryCounts
Current = NumericSample | NumericBins | CategoryCounts


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    DRIFT = "drift"
    INSUFFICIENT_DATA = "insufficient_data"


# a reference smaller than this cannot support a test, whatever min_rows says
MIN_REFERENCE = 30

SEVERITY = {Status.OK: 0, Status.INSUFFICIENT_DATA: 0, Status.WARN: 1, Status.DRIFT: 2}


@dataclass(frozen=True)
class DriftConfig:
    """Thresholds of a drift check. Shares are fractions of rows (missing) or values (unseen)."""

    alpha: float = 0.05
    correction: str = "bh"  # bh | bonferroni | none
    psi_warn: float = 0.2
    psi_alert: float = 0.3
    missing_warn: float = 0.05  # absolute change of the missing share
    missing_alert: float = 0.2
    unseen_warn: float = 0.05  # share of values in categories the reference never saw
    unseen_alert: float = 0.2
    min_rows: int = 100
    bins: int = DEFAULT_BINS  # quantile bins of a raw numeric reference

    def __post_init__(self) -> None:
        from conveyor.monitoring.corrections import correction

        correction(self.correction)
        if not 0 < self.alpha < 1:
            raise UserError(f"alpha must be between 0 and 1, got {self.alpha}")
        for signal in ("psi", "missing", "unseen"):
            warn, alert = getattr(self, f"{signal}_warn"), getattr(self, f"{signal}_alert")
            if not 0 <= warn <= alert:
                raise UserError(
                    f"{signal} thresholds need 0 <= warn <= alert, got warn {warn}, alert {alert}"
                )
        if self.min_rows < 1 or self.bins < 1:
            raise UserError("min_rows and bins must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one feature (or of the predictions) between reference and current."""

    name: str
    kind: str  # numeric | categorical | boolean
    test: str | None  # ks | chi2; None when no test could run
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None  # None: not part of the corrected family (too few rows)
    psi: float | None
    distance: float | None  # Wasserstein / reference std, or Jensen-Shannon distance
    missing_share_ref: float
    missing_share_cur: float
    missing_p_adjusted: float | None
    unseen_share: float | None  # categoricals: share of values in unseen categories
    unseen_p_adjusted: float | None
    rows_ref: int
    rows_cur: int
    status: Status = Status.OK
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["reasons"] = list(self.reasons)
        return data


@dataclass(frozen=True)
class DriftReport:
    """Every feature's drift, the prediction drift, and the overall status."""

    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    config: DriftConfig
    tests: int  # size of the corrected family
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def all(self) -> tuple[FeatureDrift, ...]:
        return self.features + ((self.prediction,) if self.prediction else ())

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.all if f.status is Status.DRIFT]

    @property
    def warned(self) -> list[str]:
        return [f.name for f in self.all if f.status is Status.WARN]

    @property
    def status(self) -> Status:
        statuses = {f.status for f in self.all}
        if Status.DRIFT in statuses:
            return Status.DRIFT
        if Status.WARN in statuses:
            return Status.WARN
        if not statuses or statuses == {Status.INSUFFICIENT_DATA}:
            return Status.INSUFFICIENT_DATA
        return Status.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "drifted": self.drifted,
            "warned": self.warned,
            "rows_reference": max((f.rows_ref for f in self.all), default=0),
            "rows_current": max((f.rows_cur for f in self.all), default=0),
            "tests": self.tests,
            "config": self.config.to_dict(),
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "skipped": dict(self.skipped),
        }


@dataclass(frozen=True)
class Evidence:
    """A feature's statistics before correction: ``FeatureDrift`` plus the raw p-values of
    the missing and unseen tests and whether each test joins the corrected family."""

    drift: FeatureDrift
    testable: bool
    missing_p: float | None = None
    unseen_p: float | None = None
    notes: tuple[str, ...] = ()
    unseen_examples: tuple[str, ...] = ()


def assess(
    name: str, kind: Kind, reference: Reference, current: Current, config: DriftConfig
) -> Evidence:
    """The statistics of one column, before the family correction of ``conclude``."""
    if isinstance(reference, NumericReference):
        if isinstance(current, CategoryCounts):
            raise UserError(f"column {name!r} is numeric in the reference, categorical now")
        return _assess_numeric(name, kind, reference, current, config)
    if not isinstance(current, CategoryCounts):
        raise UserError(f"column {name!r} is categorical in the reference, numeric now")
    return _assess_categorical(name, kind, reference, current, config)


def _base(
    name: str,
    kind: Kind,
    ref_rows: int,
    ref_missing: int,
    cur_rows: int,
    cur_missing: int,
    config: DriftConfig,
) -> tuple[FeatureDrift, float | None]:
    from conveyor.monitoring.stats import missing_test

    missing_p = None
    if ref_missing + cur_missing > 0 and cur_rows >= config.min_rows and ref_rows > 0:
        missing_p = missing_test(ref_missing, ref_rows, cur_missing, cur_rows)
    drift = FeatureDrift(
        name=name,
        kind=kind.value,
        test=None,
        statistic=None,
        p_value=None,
        p_adjusted=None,
        psi=None,
        distance=None,
        missing_share_ref=ref_missing / ref_rows if ref_rows else 0.0,
        missing_share_cur=cur_missing / cur_rows if cur_rows else 0.0,
        missing_p_adjusted=None,
        unseen_share=None,
        unseen_p_adjusted=None,
        rows_ref=ref_rows,
        rows_cur=cur_rows,
    )
    return drift, missing_p


def _fold(counts: np.ndarray) -> np.ndarray:
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


def _assess_numeric(
    name: str,
    kind: Kind,
    ref: NumericReference,
    cur: NumericSample | NumericBins,
    config: DriftConfig,
) -> Evidence:
    from conveyor.monitoring import stats

    drift, missing_p = _base(
        name, kind, ref.bins.rows, ref.bins.missing, cur.rows, cur.missing, config
    )
    ref_present = ref.bins.present
    cur_present = cur.values.size if isinstance(cur, NumericSample) else cur.present
    if ref_present == 0 or cur_present == 0:
        side = "reference" if ref_present == 0 else "current window"
        return Evidence(drift, False, missing_p, notes=(f"no values in the {side}",))
    edges = ref.bins.edges
    cur_bins = numeric_bins(cur, edges) if isinstance(cur, NumericSample) else cur
    pooled_ref, pooled_cur = stats.pool_sparse(_fold(ref.bins.counts), _fold(cur_bins.counts))
    scale = ref.std if ref.std > 0 else max(abs(ref.mean), 1.0)
    if isinstance(cur, NumericSample) and ref.values is not None:
        test = "ks"
        statistic, p_value = stats.ks_test(ref.values, cur.values)
        distance = stats.wasserstein(ref.values, cur.values) / scale
    else:
        test = "chi2"
        statistic, p_value = stats.chi_square(pooled_ref, pooled_cur)
        distance = (
            stats.wasserstein_binned(
                edges,
                ref.bins.counts,
                cur_bins.counts,
                cur_bins.below_excess,
                cur_bins.above_excess,
            )
            / scale
        )
    drift = replace(
        drift,
        test=test,
        statistic=statistic,
        p_value=p_value,
        psi=stats.psi(pooled_ref, pooled_cur),
        distance=distance,
    )
    testable, notes = _testable(ref_present, cur_present, config)
    return Evidence(drift, testable, missing_p, notes=notes)


def _assess_categorical(
    name: str, kind: Kind, ref: CategoryCounts, cur: CategoryCounts, config: DriftConfig
) -> Evidence:
    import numpy as np

    from conveyor.monitoring import stats

    drift, missing_p = _base(name, kind, ref.rows, ref.missing, cur.rows, cur.missing, config)
    categories = list(ref.counts)
    ref_counts = np.asarray([ref.counts[c] for c in categories] + [0], dtype=float)
    new = {c: n for c, n in cur.counts.items() if c not in ref.counts and n > 0}
    unseen = cur.unseen + sum(new.values())
    cur_counts = np.asarray([cur.counts.get(c, 0) for c in categories] + [unseen], dtype=float)
    ref_present, cur_present = int(ref_counts.sum()), int(cur_counts.sum())
    if ref_present == 0 or cur_present == 0:
        side = "reference" if ref_present == 0 else "current window"
        return Evidence(drift, False, missing_p, notes=(f"no values in the {side}",))
    pooled_ref, pooled_cur = stats.pool_sparse(ref_counts, cur_counts)
    statistic, p_value = stats.chi_square(pooled_ref, pooled_cur)
    testable, notes = _testable(ref_present, cur_present, config)
    unseen_p = None
    if unseen and testable:
        singletons = sum(1 for n in ref.counts.values() if n == 1)
        expected = max(singletons / ref_present, 1 / (ref_present + 1))  # Good-Turing
        unseen_p = stats.unseen_test(unseen, cur_present, expected)
    drift = replace(
        drift,
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        psi=stats.psi(pooled_ref, pooled_cur),
        distance=stats.jensen_shannon(ref_counts, cur_counts),
        unseen_share=unseen / cur_present,
    )
    examples = tuple(sorted(new, key=lambda c: -new[c])[:3])
    return Evidence(drift, testable, missing_p, unseen_p, notes, examples)


def _testable(
    ref_present: int, cur_present: int, config: DriftConfig
) -> tuple[bool, tuple[str, ...]]:
    """Whether the test joins the family: the window needs ``min_rows`` values; a reference
    (a fixed, fully known sample: training data, a holdout's predictions) needs at most
    ``MIN_REFERENCE`` — a small holdout still supports a chi-square over its pooled cells."""
    if cur_present < config.min_rows:
        return False, (f"too few values to test: {cur_present} in the window",)
    if ref_present < min(config.min_rows, MIN_REFERENCE):
        return False, (f"too few values to test: {ref_present} in the reference",)
    return True, ()


def conclude(
    evidence: Sequence[Evidence],
    config: DriftConfig,
    prediction: Evidence | None = None,
    skipped: Mapping[str, str] | None = None,
) -> DriftReport:
    """Correct every p-value of the report as one family, then give each feature a status."""
    from conveyor.monitoring.corrections import correction

    items = [*evidence, *([prediction] if prediction else [])]
    family: list[tuple[int, str, float]] = []
    for i, item in enumerate(items):
        if item.drift.rows_cur < config.min_rows:
            continue
        if item.testable and item.drift.p_value is not None:
            family.append((i, "p_adjusted", item.drift.p_value))
        if item.missing_p is not None:
            family.append((i, "missing_p_adjusted", item.missing_p))
        if item.unseen_p is not None:
            family.append((i, "unseen_p_adjusted", item.unseen_p))
    adjusted = correction(config.correction)([p for _, _, p in family])
    adjusted_by: list[dict[str, float]] = [{} for _ in items]
    for (i, key, _), value in zip(family, adjusted, strict=True):
        adjusted_by[i][key] = value
    results = [
        _verdict(
            replace(
                item.drift,
                p_adjusted=adjusted_by[i].get("p_adjusted"),
                missing_p_adjusted=adjusted_by[i].get("missing_p_adjusted"),
                unseen_p_adjusted=adjusted_by[i].get("unseen_p_adjusted"),
            ),
            item,
            config,
        )
        for i, item in enumerate(items)
    ]
    return DriftReport(
        features=tuple(results[: len(evidence)]),
        prediction=results[-1] if prediction else None,
        config=config,
        tests=len(family),
        skipped=dict(skipped or {}),
    )


def _verdict(drift: FeatureDrift, item: Evidence, config: DriftConfig) -> FeatureDrift:
    if drift.rows_cur < config.min_rows:
        reason = f"window of {drift.rows_cur} rows < min_rows {config.min_rows}"
        return replace(drift, status=Status.INSUFFICIENT_DATA, reasons=(reason,))
    signals: list[tuple[Status, str]] = []

    def grade(value: float, warn: float, alert: float) -> Status | None:
        return Status.DRIFT if value >= alert else Status.WARN if value >= warn else None

    def significant(p: float | None) -> bool:
        return p is not None and p < config.alpha

    if significant(drift.p_adjusted) and drift.psi is not None:
        level = grade(drift.psi, config.psi_warn, config.psi_alert)
        if level:
            signals.append(
                (level, f"{drift.test} p_adj {drift.p_adjusted:.2g}, PSI {drift.psi:.3f}")
            )
    change = abs(drift.missing_share_cur - drift.missing_share_ref)
    if significant(drift.missing_p_adjusted):
        level = grade(change, config.missing_warn, config.missing_alert)
        if level:
            what = " (all values missing)" if drift.missing_share_cur == 1 else ""
            signals.append(
                (
                    level,
                    f"missing share {drift.missing_share_ref:.1%} -> "
                    f"{drift.missing_share_cur:.1%}{what}",
                )
            )
    if significant(drift.unseen_p_adjusted) and drift.unseen_share is not None:
        level = grade(drift.unseen_share, config.unseen_warn, config.unseen_alert)
        if level:
            examples = ", ".join(repr(e) for e in item.unseen_examples)
            eg = f" (e.g. {examples})" if examples else ""
            signals.append((level, f"unseen categories {drift.unseen_share:.1%} of values{eg}"))
    if signals:
        status = max((s for s, _ in signals), key=SEVERITY.__getitem__)
        return replace(drift, status=status, reasons=tuple(r for _, r in signals))
    if not item.testable:
        return replace(drift, status=Status.INSUFFICIENT_DATA, reasons=item.notes)
    return replace(drift, status=Status.OK, reasons=item.notes)


def infer_kind(values: np.ndarray) -> Kind:
    """Like ``conveyor.data.schema.column_kind``: booleans, numbers, everything else."""
    if values.dtype.kind == "b":
        return Kind.BOOLEAN
    return Kind.NUMERIC if values.dtype.kind in "iuf" else Kind.CATEGORICAL


def reference_sample(values: Any, kind: Kind, config: DriftConfig) -> Reference:
    """A raw reference column, summarised for ``assess``."""
    if kind is Kind.NUMERIC:
        return numeric_reference(values, config.bins)
    return category_counts(values)


def current_sample(values: Any, kind: Kind) -> Current:
    """A raw current column, summarised for ``assess``."""
    return numeric_sample(values) if kind is Kind.NUMERIC else category_counts(values)


def compare_arrays(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    config: DriftConfig | None = None,
    *,
    kinds: Mapping[str, Kind] | None = None,
    prediction: str | None = None,
) -> DriftReport:
    """Raw vs raw: every column present in both mappings (``prediction`` names the model's
    output column, reported apart). Kinds are inferred from the reference's dtypes."""
    import numpy as np

    config = config or DriftConfig()
    evidence: list[Evidence] = []
    predicted: Evidence | None = None
    for name in [n for n in reference if n in current]:
        ref_values = np.asarray(reference[name])
        kind = (kinds or {}).get(name) or infer_kind(ref_values)
        item = assess(
            name,
            kind,
            reference_sample(ref_values, kind, config),
            current_sample(current[name], kind),
            config,
        )
        if name == prediction:
            predicted = item
        else:
            evidence.append(item)
    return conclude(evidence, config, predicted)


def compare_window(
    profile: Mapping[str, Any], window: WindowCounts, config: DriftConfig | None = None
) -> DriftReport:
    """A reference profile against a window of counts kept over its bins."""
    config = config or DriftConfig()
    rows = int(profile.get("rows", 0))
    samples = window.samples()
    evidence = [
        assess(
            name, Kind(entry["kind"]), reference_from_profile(entry, rows), samples[name], config
        )
        for name, entry in profile.get("features", {}).items()
    ]
    predicted = None
    entry = profile.get("prediction")
    if entry and window.prediction is not None and window.prediction.rows:
        predicted = assess(
            "prediction",
            Kind(entry["kind"]),
            reference_from_profile(entry, 0),
            window.prediction.snapshot(),
            config,
        )
    return conclude(evidence, config, predicted)
