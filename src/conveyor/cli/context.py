"""Per-invocation state built once at the CLI edge: the settings, then the store, the registry,
the strategy registry and the rollout controller, each built on first use and kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conveyor.settings import Settings

if TYPE_CHECKING:
    import typer

    from conveyor.registry.stages import ModelRegistry
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.strategies import Strategies
    from conveyor.rollout.wiring import RegistryOnDemand
    from conveyor.store.engine import Store


@dataclass
class CliContext:
    settings: Settings
    _store: Store | None = field(default=None, repr=False)
    _registry: RegistryOnDemand | None = field(default=None, repr=False)
    _strategies: Strategies | None = field(default=None, repr=False)
    _controller: Controller | None = field(default=None, repr=False)

    def store(self) -> Store:
        if self._store is None:
            from conveyor.store.engine import Store

            self.settings.home.mkdir(parents=True, exist_ok=True)
            self._store = Store(self.settings.store_url).create()
        return self._store

    def registry(self) -> ModelRegistry:
        """The model registry; MLflow is opened on the first call (the controller's too)."""
        return self._registry_on_demand()()

    def strategies(self) -> Strategies:
        """The rollout strategies of this process: the flags, the spec and the controller all
        ask this one registry."""
        if self._strategies is None:
            from conveyor.rollout.strategies import default_strategies

            self._strategies = default_strategies()
        return self._strategies

    def controller(self) -> Controller:
        """The rollout controller of this process (``hostname:pid`` in the lease), posting the
        rollouts' webhooks; MLflow is opened only when a command reaches the registry."""
        if self._controller is None:
            from conveyor.rollout.wiring import controller_for

            self._controller = controller_for(
                self.settings,
                self.store(),
                strategies=self.strategies(),
                registry=self._registry_on_demand(),
            )
        return self._controller

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def _registry_on_demand(self) -> RegistryOnDemand:
        if self._registry is None:
            from conveyor.rollout.wiring import RegistryOnDemand

            self._registry = RegistryOnDemand(self.settings, self.store())
        return self._registry


def cli_context(ctx: typer.Context) -> CliContext:
    """The invocation's context, set by the CLI's root callback."""
    obj: CliContext = ctx.obj
    return obj
