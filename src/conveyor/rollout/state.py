"""A rollout's state machine and its record.

::

    pending ─► progressing ⇄ paused
                 │   ▲         │
                 │   └─ step ──┤
                 ▼             ▼
             promoting ─► succeeded
                 │
    (any unfinished) ─► rolled_back | aborted

``pending``: started, waiting for the leader to set the first step's weights.
``progressing``: a step runs; at its end the analysis advances, promotes or rolls back.
``paused``: traffic holds at the current weights; nothing is judged until resumed.
``promoting``: the registry is moving ``production`` to the candidate (a refused promotion
goes back to ``paused``); nothing can interrupt it, so the alias is never left half-moved. ``rolled_back``: traffic is back on the champion and the candidate
is tagged rejected. ``aborted``: stopped by hand, traffic back, the candidate not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conveyor.rollout.errors import IllegalTransitionError

if TYPE_CHECKING:
    from conveyor.spec.models import RolloutSpec


class RolloutState(StrEnum):
    PENDING = "pending"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    PROMOTING = "promoting"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        return self in (RolloutState.SUCCEEDED, RolloutState.ROLLED_BACK, RolloutState.ABORTED)


# command -> (states it applies to, the state it leads to)
COMMANDS: dict[str, tuple[frozenset[RolloutState], RolloutState]] = {
    "begin": (frozenset({RolloutState.PENDING}), RolloutState.PROGRESSING),
    "advance": (frozenset({RolloutState.PROGRESSING}), RolloutState.PROGRESSING),
    "pause": (frozenset({RolloutState.PROGRESSING}), RolloutState.PAUSED),
    "resume": (frozenset({RolloutState.PAUSED}), RolloutState.PROGRESSING),
    "promote": (frozenset({RolloutState.PROGRESSING, RolloutState.PAUSED}), RolloutState.PROMOTING),
    "refuse": (frozenset({RolloutState.PROMOTING}), RolloutState.PAUSED),
    "succeed": (frozenset({RolloutState.PROMOTING}), RolloutState.SUCCEEDED),
    "rollback": (
        frozenset({RolloutState.PROGRESSING, RolloutState.PAUSED}),
        RolloutState.ROLLED_BACK,
    ),
    "abort": (
        frozenset({RolloutState.PENDING, RolloutState.PROGRESSING, RolloutState.PAUSED}),
        RolloutState.ABORTED,
    ),
}


def target(model: str, state: RolloutState, command: str) -> RolloutState:
    """The state ``command`` leads to from ``state``; ``IllegalTransitionError`` otherwise."""
    sources, to = COMMANDS[command]
    if state not in sources:
        allowed = " or ".join(sorted(s.value for s in sources))
        raise IllegalTransitionError(model, state.value, command, allowed)
    return to


@dataclass(frozen=True)
class Rollout:
    """One rollout as stored. ``weights`` are the percent of requests each arm answers."""

    id: int
    model: str
    candidate: str
    champion: str
    strategy: str
    state: RolloutState
    step: int
    weights: dict[str, float]
    spec: RolloutSpec
    revision: int
    actor: str
    reason: str
    pending: str | None
    started_at: datetime
    step_started_at: datetime | None
    updated_at: datetime
    ended_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "id": self.id,
            "model": self.model,
            "candidate": self.candidate,
            "champion": self.champion,
            "strategy": self.strategy,
            "state": self.state.value,
            "step": self.step,
            "weights": self.weights,
            "actor": self.actor,
            "reason": self.reason,
            "started_at": iso(self.started_at),
            "step_started_at": iso(self.step_started_at),
            "updated_at": iso(self.updated_at),
            "ended_at": iso(self.ended_at),
            "spec": self.spec.model_dump(mode="json"),
        }
