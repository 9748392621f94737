"""A process's rollout controller: the store, the registry opened on first use, the webhooks,
and the process's one strategy registry.

Each process builds one: the server in ``create_app`` (its leader loop and admin endpoints
share it), the CLI in its context (``CliContext.controller``), the console in its app.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from conveyor.registry.stages import ModelRegistry
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.strategies import Strategies
    from conveyor.settings import Settings
    from conveyor.store.engine import Store


class RegistryOnDemand:
    """Opens the ``ModelRegistry`` on the first call and returns the same one after: importing
    MLflow costs about a second of the GIL and hundreds of thousands of objects, and pause,
    resume, abort, history or a leader with nothing to promote never need it."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._registry: ModelRegistry | None = None
        self._lock = threading.Lock()  # the leader's thread and admin requests share it

    @property
    def opened(self) -> bool:
        return self._registry is not None

    def __call__(self) -> ModelRegistry:
        with self._lock:
            if self._registry is None:
                from conveyor.registry.client import connect
                from conveyor.registry.stages import ModelRegistry

                self._registry = ModelRegistry(connect(self._settings), self._store)
            return self._registry


def controller_for(
    settings: Settings,
    store: Store,
    holder: str | None = None,
    strategies: Strategies | None = None,
    registry: Callable[[], ModelRegistry] | None = None,
) -> Controller:
    """This process's controller; ``holder`` names it in the lease (default ``host:pid``);
    ``strategies`` is the process's registry of them (default the built-in four);
    ``registry`` gives the model registry (default one opened on first use)."""
    import os
    import socket

    from conveyor.rollout.controller import Controller
    from conveyor.rollout.webhooks import webhook_notifier

    secret = settings.webhook_secret
    return Controller(
        store,
        registry or RegistryOnDemand(settings, store),
        holder=holder or f"{socket.gethostname()}:{os.getpid()}",
        notify=webhook_notifier(
            secret.get_secret_value() if secret else None, settings.webhook_policy
        ),
        strategies=strategies,
    )
