"""Per-invocation state built once at the CLI edge: settings, then store and registry on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conveyor.settings import Settings

if TYPE_CHECKING:
    from conveyor.registry.stages import ModelRegistry
    from conveyor.store.engine import Store


@dataclass
class CliContext:
    settings: Settings
    _store: Store | None = field(default=None, repr=False)

    def store(self) -> Store:
        if self._store is None:
            from conveyor.store.engine import Store

            self.settings.home.mkdir(parents=True, exist_ok=True)
            self._store = Store(self.settings.store_url).create()
        return self._store

    def registry(self) -> ModelRegistry:
        from conveyor.registry.client import connect
        from conveyor.registry.stages import ModelRegistry

        return ModelRegistry(connect(self.settings), self.store())

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
