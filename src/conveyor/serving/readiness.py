"""What ``/ready`` answers: may this process take traffic, and is what it answers kept?

Ready means: a model is loaded, and every prediction it answers reaches the inference log's
spool, from which its ingester moves it to the store. So a process is *not* ready while its
ingester is down, its spool cannot be written or is full (under the ``reject`` policy), or
its SQLite store file was deleted and is not created again yet: faults of this process that
another replica does not share. A store that is merely unreachable (a PostgreSQL outage)
keeps it ready: every replica shares that store, so failing readiness everywhere would stop
all predictions for nothing — their records wait in the spool, and the spool's age and size
have their own alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.serving.store_health import StoreState

if TYPE_CHECKING:
    from conveyor.serving.parts import ServerParts


@dataclass(frozen=True)
class Readiness:
    ready: bool
    body: dict[str, Any] = field(default_factory=dict)


def readiness(state: ServerParts) -> Readiness:
    """The readiness of this server process and why, for ``/ready``."""
    if not state.manager.ready:
        return Readiness(False, {"status": "loading"})
    model = state.manager.current()
    body: dict[str, Any] = {"version": model.identity.version}
    problems: list[str] = []
    healthy = getattr(model.runtime, "healthy", None)
    if healthy is not None and not healthy():  # a remote runtime's backend
        problems.append(
            f"the model's backend is not ready ({getattr(model.runtime, 'reason', '')})"
        )
    health = state.store_health
    if health is not None:
        body["store"] = health.state.value
        if health.state is StoreState.RECREATING:
            problems.append(
                f"the store file was deleted and cannot be created again: {health.detail}"
            )
    if state.log_writer is not None:
        log = state.log_writer.health()
        problems += log.pop("problems")
        body["inference_log"] = log
    body = {"status": "not_ready" if problems else "ready", **body}
    if problems:
        body["problems"] = problems
    return Readiness(not problems, body)
