"""Where a decided step verdict takes a rollout: roll back, pause, advance, promote."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conveyor.rollout.judge import IDLE_WEIGHTS, next_move, step_weights
from conveyor.rollout.state import Rollout
from conveyor.rollout.strategies import default_strategies
from conveyor.rollout.verdicts import Decision, StepVerdict
from conveyor.spec.models import RolloutSpec
from tests.unit.rollouts import a_rollout

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def rollout(step: int, **spec: Any) -> Rollout:
    return a_rollout(
        step=step, spec=RolloutSpec(steps=[10, 50, 100], **spec), actor="alice", at=NOW
    )


def move(step: int, decision: Decision, **spec: Any) -> Any:
    r = rollout(step, **spec)
    plan = default_strategies().plan(r.spec)
    return next_move(r, plan, StepVerdict(decision, "why"), NOW)


def test_a_failed_step_rolls_back_with_all_traffic_on_production() -> None:
    m = move(0, Decision.FAIL)
    assert (m.command, m.reason) == ("rollback", "step 1 of 3 (10%) failed: why")
    assert m.changes == {"weights": IDLE_WEIGHTS, "pending": "reject"}


def test_a_pause_verdict_pauses() -> None:
    m = move(1, Decision.PAUSE)
    assert (m.command, m.reason, m.changes) == ("pause", "step 2 of 3 (50%): why", {})


def test_a_passed_step_advances_to_the_next_step_s_weights() -> None:
    m = move(0, Decision.PASS)
    assert m.command == "advance"
    assert m.reason == "step 1 of 3 (10%) passed (why); step 2: 50%"
    assert m.changes == {
        "step": 1,
        "weights": {"production": 50.0, "candidate": 50.0},
        "step_started_at": NOW,
    }


@pytest.mark.parametrize(("auto", "command"), [(True, "promote"), (False, "pause")])
def test_the_last_step_passed_promotes_or_waits_for_a_person(auto: bool, command: str) -> None:
    m = move(2, Decision.PASS, auto_promote=auto)
    assert m.command == command
    assert m.reason.startswith("step 3 of 3 (100%), the last, passed: why")
    assert m.reason.endswith("promote by hand") is (not auto)


def test_step_weights_split_the_traffic() -> None:
    plan = default_strategies().plan(RolloutSpec(steps=[25, 100]))
    assert step_weights(plan[0]) == {"production": 75.0, "candidate": 25.0}
