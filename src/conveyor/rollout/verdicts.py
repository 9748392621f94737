"""What a rollout step's analysis says: each check's verdict with the numbers behind it, and
the step's decision (advance, roll back, wait, pause)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Decision(StrEnum):
    PASS = "pass"  # advance (or promote after the last step)
    FAIL = "fail"  # roll back
    WAIT = "wait"  # gather more evidence
    PAUSE = "pause"  # hold for a person


@dataclass(frozen=True)
class CheckResult:
    """One check. ``blocking``: an inconclusive result holds the step (online accuracy is
    blocking only when the spec requires labels)."""

    name: str
    verdict: Verdict
    numbers: dict[str, Any]
    reason: str
    blocking: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "blocking": self.blocking,
            "numbers": self.numbers,
        }


@dataclass(frozen=True)
class StepVerdict:
    decision: Decision
    reason: str
    checks: list[CheckResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "checks": [c.to_dict() for c in self.checks],
        }
