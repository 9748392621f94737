"""A progressing step's verdict now: its evidence window read, its checks run, and whether
that decides anything yet (a failing check decides at once; otherwise the step's end does)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.rollout.analysis import analyse, decide
from conveyor.rollout.verdicts import Decision, StepVerdict, Verdict

if TYPE_CHECKING:
    from conveyor.rollout.evidence import EvidenceProvider
    from conveyor.rollout.state import Rollout

log = logging.getLogger(__name__)


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
