"""The traffic router: weights within binomial bounds, stickiness, the same answer in every
process, mirrors for blue-green and shadow, and tables built from stored rollouts."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from conveyor.errors import UserError
from conveyor.rollout.router import Arm, Route, Router, RouteTable, key_point
from conveyor.rollout.state import Rollout, RolloutState
from conveyor.rollout.strategies import PlanStep, default_strategies
from conveyor.spec.models import ABSpec, RolloutSpec
from tests.unit.rollouts import a_rollout

N = 20_000
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def table(weight: float, assign_by: str = "request_id", mirror: bool = False) -> RouteTable:
    return RouteTable("wine", "1", "2", weight, mirror, assign_by, salt="rollout-7")


def within_binomial(count: int, n: int, percent: float) -> bool:
    """Within 5 standard deviations of n * p (a false alarm about once in 3.5 million)."""
    p = percent / 100
    return abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p))


def candidate_share(router: Router, n: int = N) -> int:
    return sum(router.route(f"req-{i}").arm is Arm.CANDIDATE for i in range(n))


def test_nothing_rolling_out_sends_all_to_production() -> None:
    router = Router(RouteTable.idle("wine", "1"))
    assert {router.route(f"r{i}") for i in range(100)} == {Route(Arm.PRODUCTION)}
    assert router.table.version(Arm.PRODUCTION) == "1"
    with pytest.raises(ValueError, match="no candidate"):
        router.table.version(Arm.CANDIDATE)


@pytest.mark.parametrize("weight", [1, 5, 25, 50, 90])
def test_canary_weights_by_request_id_hash(weight: float) -> None:
    assert within_binomial(candidate_share(Router(table(weight))), N, weight)


@pytest.mark.parametrize("weight", [5, 50])
def test_canary_weights_by_random_draw(weight: float) -> None:
    router = Router(table(weight, "random"), rng=random.Random(3))
    assert within_binomial(candidate_share(router), N, weight)


def test_zero_and_full_weights_are_exact() -> None:
    assert candidate_share(Router(table(0)), 1000) == 0
    assert candidate_share(Router(table(100)), 1000) == 1000


def test_a_request_id_keeps_its_arm_and_growing_weights_only_add_requests() -> None:
    small, large = Router(table(5)), Router(table(25))
    ids = [f"req-{i}" for i in range(5000)]
    on_small = {i for i in ids if small.route(i).arm is Arm.CANDIDATE}
    on_large = {i for i in ids if large.route(i).arm is Arm.CANDIDATE}
    assert on_small < on_large  # a retry or a later step never moves a request back
    assert all(small.route(i).arm is Arm.CANDIDATE for i in on_small)


def test_ab_is_sticky_per_header_key_and_splits_users() -> None:
    router = Router(table(30, "header:X-User"))
    arms = {}
    for user in range(4000):
        seen = {
            router.route(f"req-{user}-{k}", headers={"x-user": f"user-{user}"}).arm
            for k in range(5)
        }
        assert len(seen) == 1  # every request of a user on one arm
        arms[user] = seen.pop()
    assert within_binomial(sum(a is Arm.CANDIDATE for a in arms.values()), 4000, 30)


def test_header_names_match_case_insensitively() -> None:
    router = Router(table(50, "header:X-User"))
    one = router.route("a", headers={"X-User": "u-17"})
    assert router.route("b", headers={"x-user": "u-17"}) == one
    assert router.route("c", headers={"X-USER": "u-17"}) == one


def test_ab_by_input_field_reads_the_first_row() -> None:
    router = Router(table(50, "field:user_id"))
    arm = router.route("a", fields={"user_id": [42, 43]}).arm
    assert router.route("b", fields={"user_id": 42}).arm is arm
    assert router.route("c", fields={"user_id": (42,)}).arm is arm
    assert all(router.route(f"r{i}", fields={"user_id": [42]}).arm is arm for i in range(50))


def test_a_request_without_its_key_is_assigned_by_request_id() -> None:
    router = Router(table(50, "header:X-User"))
    by_id = Router(table(50))
    for i in range(200):
        assert router.route(f"r{i}", headers={}).arm is by_id.route(f"r{i}").arm
        assert router.route(f"r{i}", headers={"X-User": ""}).arm is by_id.route(f"r{i}").arm
    assert router.route("r1", fields={"user_id": []}).arm is by_id.route("r1").arm


def test_same_key_same_arm_across_router_instances_and_processes() -> None:
    keys = [f"user-{i}" for i in range(200)]
    here = [key_point("rollout-7", k) for k in keys]
    again = Router(table(50, "header:X-User"))
    other = Router(table(50, "header:X-User"))
    for k in keys:
        assert again.route("x", {"X-User": k}) == other.route("y", {"X-User": k})
    code = (
        "import sys; from conveyor.rollout.router import key_point; "
        "print(' '.join(repr(key_point('rollout-7', f'user-{i}')) for i in range(200)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # Python's own hash would differ
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert [float(v) for v in out.stdout.split()] == here


def test_a_new_rollout_reshuffles_keys() -> None:
    keys = [f"user-{i}" for i in range(2000)]
    first = [key_point("rollout-7", k) < 0.5 for k in keys]
    second = [key_point("rollout-8", k) < 0.5 for k in keys]
    same = sum(a == b for a, b in zip(first, second, strict=True))
    assert within_binomial(same, 2000, 50)  # independent, not the same users again


def test_mirrors_give_the_other_arm_a_copy() -> None:
    assert Router(table(0, mirror=True)).route("r") == Route(Arm.PRODUCTION, Arm.CANDIDATE)
    assert Router(table(100, mirror=True)).route("r") == Route(Arm.CANDIDATE, Arm.PRODUCTION)
    assert Router(table(50)).route("r").mirror is None


def test_strategies_make_the_plans() -> None:
    strategies = default_strategies()
    assert strategies.names() == ["ab", "blue_green", "canary", "shadow"]
    canary = strategies.plan(RolloutSpec(steps=[10, 100], assignment="random"))
    assert canary == [
        PlanStep("10%", 10, mirror=False, assign_by="random"),
        PlanStep("100%", 100, mirror=True, assign_by="random"),  # the champion keeps a copy
    ]
    blue_green = strategies.plan(RolloutSpec(strategy="blue_green"))
    assert [(s.weight, s.mirror) for s in blue_green] == [(0, True), (100, True)]
    shadow = strategies.plan(RolloutSpec(strategy="shadow"))
    assert [(s.weight, s.mirror) for s in shadow] == [(0, True)]
    ab = strategies.plan(RolloutSpec(strategy="ab", ab=ABSpec(split=20, sticky_key="field:u")))
    assert ab == [PlanStep("A/B 80/20", 20, assign_by="field:u")]


def test_strategy_registry_refuses_duplicates_and_lists_names() -> None:
    strategies = default_strategies()
    with pytest.raises(ValueError, match="'canary' is registered already"):
        strategies.register(strategies.get("canary"))
    with pytest.raises(UserError, match="use one of ab, blue_green, canary, shadow"):
        strategies.get("linear")


def rollout(state: RolloutState, spec: RolloutSpec, step: int = 0, weight: float = 0) -> Rollout:
    return a_rollout(
        id=7,
        strategy=spec.strategy,
        state=state,
        step=step,
        weights={"production": 100 - weight, "candidate": weight},
        spec=spec,
        revision=3,
        at=NOW,
    )


def test_route_table_follows_the_stored_rollout() -> None:
    strategies = default_strategies()
    canary = RolloutSpec()
    running = RouteTable.for_rollout(rollout(RolloutState.PROGRESSING, canary, 1, 25), strategies)
    assert running == RouteTable("wine", "1", "2", 25, False, "request_id", "rollout-7")
    paused = RouteTable.for_rollout(rollout(RolloutState.PAUSED, canary, 1, 25), strategies)
    assert paused.weight == 25  # traffic holds while paused
    for state in (RolloutState.PENDING, RolloutState.ROLLED_BACK, RolloutState.ABORTED):
        assert RouteTable.for_rollout(rollout(state, canary), strategies) == RouteTable.idle(
            "wine", "1"
        )
    done = RouteTable.for_rollout(rollout(RolloutState.SUCCEEDED, canary, 3, 100), strategies)
    assert done == RouteTable.idle("wine", "2")
    green = RolloutSpec(strategy="blue_green")
    switched = RouteTable.for_rollout(rollout(RolloutState.PROGRESSING, green, 1, 100), strategies)
    assert Router(switched).route("r") == Route(Arm.CANDIDATE, Arm.PRODUCTION)
    ab = RolloutSpec(strategy="ab", ab=ABSpec(split=10, sticky_key="header:X-Team"))
    assert RouteTable.for_rollout(
        rollout(RolloutState.PROGRESSING, ab, 0, 10), strategies
    ).assign_by == ("header:X-Team")
