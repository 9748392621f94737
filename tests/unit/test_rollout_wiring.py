"""A process's controller opens the registry only when a command reaches it, and uses the
process's strategy registry."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError

from conveyor.errors import UserError
from conveyor.registry.stages import ModelRegistry
from conveyor.rollout.strategies import PlanStep, Shadow, Strategies, default_strategies
from conveyor.rollout.wiring import RegistryOnDemand, controller_for
from conveyor.settings import Settings
from conveyor.spec.models import BUILT_IN_STRATEGIES, RolloutSpec
from conveyor.store.engine import Store


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []

    def connect(settings: Settings) -> str:
        calls.append(settings)
        return "client"

    monkeypatch.setattr("conveyor.registry.client.connect", connect)
    return calls


def test_the_registry_opens_on_first_use_only(tmp_path: Path, opened: list[Any]) -> None:
    settings = Settings(home=tmp_path)
    store = Store(settings.store_url).create()
    controller = controller_for(settings, store)
    assert controller.status("wine") is None  # reads the store only
    assert opened == []
    registry = controller.registry  # now it opens, once
    assert isinstance(registry, ModelRegistry)
    assert registry.client == cast(Any, "client") and registry.store is store
    assert controller.registry is registry and len(opened) == 1
    assert controller.lease.holder.count(":") == 1  # host:pid
    store.close()


def test_threads_asking_at_once_open_one_registry(tmp_path: Path, opened: list[Any]) -> None:
    settings = Settings(home=tmp_path)
    store = Store(settings.store_url)
    on_demand = RegistryOnDemand(settings, store)
    assert not on_demand.opened
    got: list[ModelRegistry] = []
    threads = [threading.Thread(target=lambda: got.append(on_demand())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 1 and on_demand.opened
    assert all(r is got[0] for r in got)


def test_the_controller_plans_with_the_strategies_it_is_given(
    tmp_path: Path, opened: list[Any]
) -> None:
    settings = Settings(home=tmp_path)
    store = Store(settings.store_url)
    only_shadow = Strategies()
    only_shadow.register(Shadow())
    controller = controller_for(settings, store, strategies=only_shadow)
    assert controller.strategies is only_shadow
    assert [s.label for s in controller.strategies.plan(RolloutSpec(strategy="shadow"))] == [
        "shadow"
    ]
    with pytest.raises(UserError, match="unknown rollout strategy 'canary'; use one of shadow"):
        controller.strategies.plan(RolloutSpec())


def test_the_spec_knows_the_built_in_strategies_by_the_registry_s_names() -> None:
    assert sorted(BUILT_IN_STRATEGIES) == default_strategies().names()


def test_a_process_registry_decides_which_strategy_names_a_spec_may_name() -> None:
    linear = Strategies()

    class Linear:
        name = "linear"

        def plan(self, spec: RolloutSpec) -> list[PlanStep]:
            return [PlanStep("all", 100.0)]

    linear.register(Linear())
    spec = RolloutSpec.model_validate({"strategy": "linear"}, context={"strategies": linear})
    assert linear.plan(spec) == [PlanStep("all", 100.0)]
    with pytest.raises(
        ValidationError, match="unknown rollout strategy 'canary'; use one of linear"
    ):
        RolloutSpec.model_validate({"strategy": "canary"}, context={"strategies": linear})
    with pytest.raises(ValidationError, match="unknown rollout strategy 'linear'; use one of ab, "):
        RolloutSpec.model_validate({"strategy": "linear"})  # no registry: the built-in names
