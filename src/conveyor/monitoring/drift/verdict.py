"""From evidence to verdicts: every p-value of a report corrected as one family, then each
feature graded against the thresholds.

A distribution change is a verdict only when its corrected p-value is under ``alpha`` AND its
PSI reaches ``psi_warn`` (warn) or ``psi_alert`` (drift): a million healthy rows make any
tiny difference significant, and the effect size keeps those quiet. Missing share (any
feature) and unseen-category share (categoricals) are signals of their own, with their own
test and thresholds on the share. A window with fewer than ``min_rows`` rows gets
``insufficient_data``, never a verdict; a column with no values is never ``ok``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from conveyor.monitoring.drift.result import DriftReport, FeatureDrift, Status

if TYPE_CHECKING:
    from conveyor.monitoring.drift.config import DriftConfig
    from conveyor.monitoring.drift.evidence import FeatureEvidence

# a reference smaller than this cannot support a test, whatever min_rows says
MIN_REFERENCE = 30

SEVERITY = {Status.OK: 0, Status.INSUFFICIENT_DATA: 0, Status.WARN: 1, Status.DRIFT: 2}


def testable(
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
    evidence: Sequence[FeatureEvidence],
    config: DriftConfig,
    prediction: FeatureEvidence | None = None,
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
        verdict(
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


def verdict(drift: FeatureDrift, item: FeatureEvidence, config: DriftConfig) -> FeatureDrift:
    """One feature's status and reasons, from its corrected p-values and its effect sizes."""
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
