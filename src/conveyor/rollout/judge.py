"""A progressing step's verdict now (its evidence window read, its checks run, and whether
that decides anything yet: a failing check decides at once, otherwise the step's end does),
and the move a decided verdict leads to."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.rollout.analysis import analyse, decide
from conveyor.rollout.router import Arm
from conveyor.rollout.verdicts import Decision, StepVerdict, Verdict

if TYPE_CHECKING:
    from conveyor.rollout.evidence import EvidenceProvider
    from conveyor.rollout.state import Rollout
    from conveyor.rollout.strategies import PlanStep

log = logging.getLogger(__name__)

# all traffic on production: before the first step and once a rollout ends
IDLE_WEIGHTS = {Arm.PRODUCTION.value: 100.0, Arm.CANDIDATE.value: 0.0}


def step_weights(step: PlanStep) -> dict[str, float]:
    return {Arm.PRODUCTION.value: 100.0 - step.weight, Arm.CANDIDATE.value: step.weight}


@dataclass(frozen=True)
class Move:
    """A transition of the rollout: the state machine's ``command``, its reason for the audit
    trail, and the row's other changes."""

    command: str
    reason: str
    changes: dict[str, Any] = field(default_factory=dict)


def judge_step(rollout: Rollout, evidence: EvidenceProvider, now: datetime) -> StepVerdict | None:
    """The verdict on ``rollout``'s current step at ``now``, or None while nothing is decided.

    Evidence that cannot be read is waited for up to ``max_wait_seconds`` past the step's
    end; after that the rollout never proceeds blind: it rolls back or pauses.
    """
    spec = rollout.spec
    started = rollout.step_started_at or rollout.updated_at
    ends = started + timedelta(seconds=spec.step_seconds)
    try:
        data = evidence(rollout, started, now)
    except Exception as exc:
        log.exception("rollout #%d of %s: evidence unavailable", rollout.id, rollout.model)
        waited = (now - ends).total_seconds()
        if waited < spec.analysis.max_wait_seconds:
            return None
        action = Decision.FAIL if spec.analysis.on_inconclusive == "rollback" else Decision.PAUSE
        return StepVerdict(action, f"no evidence {waited:.0f} s after the step ended ({exc})", [])
    checks = analyse(data, spec.analysis)
    if now >= ends:
        return decide(checks, (now - ends).total_seconds(), spec.analysis)
    failed = [c for c in checks if c.verdict is Verdict.FAIL]
    if not failed:
        return None
    reasons = "; ".join(f"{c.name}: {c.reason}" for c in failed)
    return StepVerdict(Decision.FAIL, f"failed before the step ended: {reasons}", checks)


def next_move(rollout: Rollout, plan: list[PlanStep], verdict: StepVerdict, now: datetime) -> Move:
    """Where a decided verdict (not ``WAIT``) takes the rollout: roll back, pause, advance to
    the next step, or, after the last, promote (or pause for a person without auto_promote)."""
    step = rollout.step
    label = f"step {step + 1} of {len(plan)} ({plan[step].label})"
    if verdict.decision is Decision.FAIL:
        failed: dict[str, Any] = {"weights": dict(IDLE_WEIGHTS), "pending": "reject"}
        return Move("rollback", f"{label} failed: {verdict.reason}", failed)
    if verdict.decision is Decision.PAUSE:
        return Move("pause", f"{label}: {verdict.reason}")
    if step + 1 < len(plan):
        nxt = plan[step + 1]
        reason = f"{label} passed ({verdict.reason}); step {step + 2}: {nxt.label}"
        advanced: dict[str, Any] = {
            "step": step + 1,
            "weights": step_weights(nxt),
            "step_started_at": now,
        }
        return Move("advance", reason, advanced)
    reason = f"{label}, the last, passed: {verdict.reason}"
    if not rollout.spec.auto_promote:
        return Move("pause", f"{reason}; promote by hand")
    return Move("promote", reason)
