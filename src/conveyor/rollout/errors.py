"""Rollout errors (all ``UserError``s: the request was refused and nothing changed). The
store's database errors become ``StoreUnavailableError`` in ``conveyor.store.errors``
(``store_errors`` is re-exported here for callers that import it from this module).

UserError
├── RolloutConflictError      another rollout of the model is active (HTTP 409)
├── IllegalTransitionError    the rollout's state does not allow the command (HTTP 409)
└── NotFoundError
    └── NoActiveRolloutError  the command needs an active rollout and there is none
"""

from __future__ import annotations

from conveyor.errors import NotFoundError, UserError
from conveyor.store.errors import store_errors

__all__ = [
    "IllegalTransitionError",
    "NoActiveRolloutError",
    "RolloutConflictError",
    "store_errors",
]


class RolloutConflictError(UserError):
    """A model has at most one active rollout; finish or abort it first."""

    http_status = 409


class IllegalTransitionError(UserError):
    """The command does not apply to the rollout's current state; the message names it."""

    http_status = 409

    def __init__(self, model: str, state: str, command: str, allowed: str = "") -> None:
        self.state = state
        self.command = command
        hint = f" (allowed when {allowed})" if allowed else ""
        super().__init__(f"cannot {command} the rollout of {model!r}: it is {state}{hint}")


class NoActiveRolloutError(NotFoundError):
    """Nothing is rolling out for the model."""

    def __init__(self, model: str, command: str) -> None:
        super().__init__(f"cannot {command}: no active rollout of {model!r}")
