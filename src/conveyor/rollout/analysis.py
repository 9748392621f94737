"""A rollout step's analysis: every check that applies to its evidence (``checks``), then the
step's decision once its time is up. Pure functions on plain data; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from conveyor.rollout.checks import (
    agreement,
    error_rate,
    input_drift,
    latency,
    online_accuracy,
    prediction_shift,
)
from conveyor.rollout.verdicts import CheckResult, Decision, StepVerdict, Verdict

if TYPE_CHECKING:
    from conveyor.rollout.evidence import Evidence
    from conveyor.spec.models import AnalysisSpec


def analyse(evidence: Evidence, spec: AnalysisSpec) -> list[CheckResult]:
    """Every check that applies to the evidence (agreement needs pairs, input drift inputs)."""
    champion, candidate = evidence.champion, evidence.candidate
    checks = [
        error_rate(champion, candidate, spec),
        latency(champion, candidate, spec),
        agreement(evidence.pairs, evidence.task, spec) if evidence.pairs is not None else None,
        prediction_shift(champion, candidate, evidence.task, spec),
        online_accuracy(champion, candidate, evidence.task, spec),
        input_drift(champion, candidate, spec),
    ]
    return [c for c in checks if c is not None]


def decide(checks: Sequence[CheckResult], waited_seconds: float, spec: AnalysisSpec) -> StepVerdict:
    """The step's decision once its time is up; ``waited_seconds`` since the step ended."""
    listed = list(checks)
    failed = [c for c in listed if c.verdict is Verdict.FAIL]
    if failed:
        return StepVerdict(Decision.FAIL, _reasons(failed), listed)
    waiting = [c for c in listed if c.verdict is Verdict.INCONCLUSIVE and c.blocking]
    if waiting:
        if waited_seconds < spec.max_wait_seconds:
            return StepVerdict(Decision.WAIT, f"waiting for evidence: {_reasons(waiting)}", listed)
        reason = (
            f"still inconclusive {waited_seconds:.0f} s after the step ended "
            f"(max_wait_seconds {spec.max_wait_seconds:g}, on_inconclusive "
            f"{spec.on_inconclusive}): {_reasons(waiting)}"
        )
        action = {"rollback": Decision.FAIL, "pause": Decision.PAUSE, "proceed": Decision.PASS}
        return StepVerdict(action[spec.on_inconclusive], reason, listed)
    judged = [c for c in listed if c.verdict is not Verdict.INCONCLUSIVE]
    marginal = [c.name for c in judged if c.verdict is Verdict.MARGINAL]
    reason = f"{len(judged)} checks passed"
    if marginal:
        reason += f" ({', '.join(marginal)} marginal)"
    return StepVerdict(Decision.PASS, reason, listed)


def _reasons(checks: Sequence[CheckResult]) -> str:
    return "; ".join(f"{c.name}: {c.reason}" for c in checks)
