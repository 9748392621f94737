"""Declarative quality gates and the report that says why a candidate passed or failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conveyor.spec.metric_names import LOWER_IS_BETTER

# metrics are floats: 0.85 - 0.90 is -0.05000000000000004, yet it is exactly the tolerance
_EPSILON = 1e-9


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class GateResult:
    name: str
    outcome: Outcome
    detail: str
    observed: float | None = None
    threshold: float | None = None


@dataclass
class GateReport:
    results: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.outcome is not Outcome.FAILED for r in self.results)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    def add(self, result: GateResult) -> None:
        self.results.append(result)

    def summary(self) -> str:
        counts = {o: sum(r.outcome is o for r in self.results) for o in Outcome}
        return ", ".join(f"{counts[o]} {o.value}" for o in Outcome if counts[o])

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "gates": [
                {
                    "name": r.name,
                    "outcome": r.outcome.value,
                    "detail": r.detail,
                    "observed": r.observed,
                    "threshold": r.threshold,
                }
                for r in self.results
            ],
        }


def threshold_gates(
    metrics: dict[str, float],
    minimums: dict[str, float],
    maximums: dict[str, float],
    prefix: str = "",
) -> list[GateResult]:
    """``metric ≥ min`` and ``metric ≤ max`` for each configured bound; a missing metric fails."""
    results = []
    for bounds, is_min in ((minimums, True), (maximums, False)):
        for metric, bound in bounds.items():
            name = f"{prefix}{metric} {'≥' if is_min else '≤'} {bound:g}"
            value = metrics.get(metric)
            if value is None:
                results.append(
                    GateResult(
                        name,
                        Outcome.FAILED,
                        f"{metric} could not be computed on this data",
                        None,
                        bound,
                    )
                )
                continue
            ok = value >= bound if is_min else value <= bound
            results.append(
                GateResult(
                    name,
                    Outcome.PASSED if ok else Outcome.FAILED,
                    f"{metric} = {value:.4f}",
                    value,
                    bound,
                )
            )
    return results


def champion_gate(
    metric: str, candidate: float, champion: float, tolerance: float, champion_version: str
) -> GateResult:
    """The candidate may be worse than production by at most ``tolerance`` on ``metric``."""
    lower_better = metric in LOWER_IS_BETTER
    delta = champion - candidate if lower_better else candidate - champion
    ok = delta >= -tolerance - _EPSILON
    detail = (
        f"{metric}: candidate {candidate:.4f} vs production v{champion_version} {champion:.4f} "
        f"(Δ {delta:+.4f}, tolerance {tolerance:g})"
    )
    return GateResult(
        f"champion ({metric})",
        Outcome.PASSED if ok else Outcome.FAILED,
        detail,
        candidate,
        champion - tolerance if not lower_better else champion + tolerance,
    )


def skipped(name: str, why: str) -> GateResult:
    return GateResult(name, Outcome.SKIPPED, why)


def failed(name: str, why: str) -> GateResult:
    return GateResult(name, Outcome.FAILED, why)


def passed(name: str, why: str) -> GateResult:
    return GateResult(name, Outcome.PASSED, why)
