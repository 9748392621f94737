"""The leader loop: two loops on one store, one leader acting; stopping it hands over at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conveyor.rollout.controller import Controller
from conveyor.rollout.evidence import ArmEvidence, Evidence
from conveyor.rollout.loop import LeaderLoop, LoopState
from conveyor.rollout.records import RolloutRecords
from conveyor.rollout.state import Rollout, RolloutState
from conveyor.spec.models import RolloutSpec
from conveyor.store import Store


class NoRegistry:
    """The steps these tests take never reach the registry; any use is a failure."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the registry was used: {name}")


def nothing_yet(rollout: Rollout, since: datetime, until: datetime) -> Evidence:
    return Evidence("classification", ArmEvidence(rollout.champion), ArmEvidence(rollout.candidate))


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    yield opened
    opened.close()


def holder(loop: LeaderLoop) -> str | None:
    info = loop.controller.lease.current()
    return info.holder if info else None


def loop(store: Store, name: str) -> LeaderLoop:
    registry: Any = NoRegistry()
    controller = Controller(store, lambda: registry, holder=name, lease_ttl=timedelta(seconds=30))
    return LeaderLoop(controller, nothing_yet, interval=0.02)


def test_one_of_two_loops_leads_and_stopping_it_hands_over(store: Store) -> None:
    records = RolloutRecords(store)
    rollout = records.create(
        model="wine",
        candidate="2",
        champion="1",
        spec=RolloutSpec(step_seconds=3600),
        weights={"production": 100.0, "candidate": 0.0},
        actor="alice",
        reason="",
        now=datetime.now(UTC),
    )
    a, b = loop(store, "a"), loop(store, "b")
    a.start()
    b.start()
    try:
        wait_for(lambda: records.get(rollout.id).state is RolloutState.PROGRESSING)
        wait_for(lambda: a.rounds > 5 and b.rounds > 5)
        begins = [e for e in records.events(rollout.id) if e.to_state == "progressing"]
        assert len(begins) == 1  # acted on once, by the leader
        leader, follower = (a, b) if begins[0].actor == "controller@a" else (b, a)
        assert holder(leader) == leader.controller.lease.holder
        leader.stop()
        assert leader.state is LoopState.STOPPED
        # released, not left to expire (30 s): the follower leads within a round or two
        wait_for(lambda: holder(follower) == follower.controller.lease.holder, 5)
    finally:
        for each in (a, b):
            if each.state is LoopState.RUNNING:
                each.stop()
    with pytest.raises(RuntimeError, match="leader loop is stopped"):
        a.stop()
