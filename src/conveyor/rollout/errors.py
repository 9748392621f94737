"""Rollout errors (all ``UserError``s: the request was refused and nothing changed) and the
one place where the store's database errors become ``ServiceUnavailableError``.

UserError
├── RolloutConflictError      another rollout of the model is active (HTTP 409)
├── IllegalTransitionError    the rollout's state does not allow the command (HTTP 409)
└── NotFoundError
    └── NoActiveRolloutError  the command needs an active rollout and there is none
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from conveyor.errors import NotFoundError, ServiceUnavailableError, UserError


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


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Database connection failures inside the block become ``ServiceUnavailableError``.

    The interrupted transaction did not commit (or, failing at commit, its outcome is
    unknown): rollout writes compare-and-set a revision, so retrying either case is safe.
    """
    import sqlalchemy as sa

    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        detail = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        raise ServiceUnavailableError(f"{what}: the store is unreachable ({detail})") from None
