"""A ``Controller`` for a process: the store, the registry opened on first use, the webhooks.

The CLI, the server's leader loop and its admin endpoints all build theirs here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from conveyor.registry.stages import ModelRegistry
    from conveyor.rollout.controller import Controller
    from conveyor.settings import Settings
    from conveyor.store.engine import Store


class LazyRegistry:
    """The registry, opened on first use: importing MLflow costs about a second of the GIL
    and hundreds of thousands of objects, and pause, resume, abort, history or a leader with
    nothing to promote never need it."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._registry: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._registry is None:
            from conveyor.registry.client import connect
            from conveyor.registry.stages import ModelRegistry

            self._registry = ModelRegistry(connect(self._settings), self._store)
        return getattr(self._registry, name)


def controller_for(settings: Settings, store: Store, holder: str | None = None) -> Controller:
    """This process's controller; ``holder`` names it in the lease (default ``host:pid``)."""
    import os
    import socket

    from conveyor.rollout.controller import Controller
    from conveyor.rollout.webhooks import webhook_notifier

    secret = settings.webhook_secret
    return Controller(
        store,
        cast("ModelRegistry", LazyRegistry(settings, store)),
        holder=holder or f"{socket.gethostname()}:{os.getpid()}",
        notify=webhook_notifier(
            secret.get_secret_value() if secret else None, settings.webhook_policy
        ),
    )
