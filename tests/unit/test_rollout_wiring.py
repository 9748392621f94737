"""A process's controller opens the registry only when a command reaches it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from conveyor.rollout.wiring import LazyRegistry, controller_for
from conveyor.settings import Settings
from conveyor.store.engine import Store


def test_the_registry_opens_on_first_use_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []

    def connect(settings: Settings) -> str:
        opened.append(settings)
        return "client"

    monkeypatch.setattr("conveyor.registry.client.connect", connect)
    settings = Settings(home=tmp_path)
    store = Store(settings.store_url).create()
    controller = controller_for(settings, store)
    assert controller.status("wine") is None  # reads the store only
    assert opened == []
    registry = controller.registry
    assert isinstance(registry, LazyRegistry)
    assert registry.client == cast(Any, "client") and registry.store is store  # now it opens, once
    assert registry.audit is not None and len(opened) == 1
    assert controller.lease.holder.count(":") == 1  # host:pid
    store.close()
