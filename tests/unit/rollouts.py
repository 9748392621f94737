"""A stored rollout for unit tests: wine 2 against 1, canary, progressing at its first step;
each test changes what it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from conveyor.rollout.state import Rollout, RolloutState
from conveyor.spec.models import RolloutSpec

STARTED = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def a_rollout(**changes: Any) -> Rollout:
    """The rollout, with ``changes`` applied; the times default to ``STARTED`` (or ``at``)."""
    at = changes.pop("at", STARTED)
    base = Rollout(
        id=1,
        model="wine",
        candidate="2",
        champion="1",
        strategy="canary",
        state=RolloutState.PROGRESSING,
        step=0,
        weights={},
        spec=RolloutSpec(),
        revision=1,
        actor="ci",
        reason="",
        pending=None,
        started_at=at,
        step_started_at=at,
        updated_at=at,
        ended_at=None,
    )
    return replace(base, **changes)
