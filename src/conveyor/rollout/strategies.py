"""Rollout strategies: each turns the spec into a plan, the list of steps the controller walks.

A step says what share of requests the candidate answers, whether the arm that does not
answer gets a copy (mirrored traffic, paired with the answer by request id) and how a request
picks its arm. The controller and the router know nothing else about strategies, so a new one
is a class with ``name`` and ``plan`` registered in a ``Strategies``. Each process builds one
registry (``create_app``, ``CliContext.strategies``) and every part asks it; a spec validated
with it (``context={"strategies": ...}``) asks it which names are valid. The four built in are a few lines each, so they share this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from conveyor.plugins import Registry

if TYPE_CHECKING:
    from conveyor.spec.models import RolloutSpec


@dataclass(frozen=True)
class PlanStep:
    """One step of a plan.

    ``weight``: percent of requests the candidate answers. ``mirror``: the other arm gets a
    copy of each request, its answer only logged. ``assign_by``: ``request_id`` (a hash of the
    request id), ``random``, or a sticky key, ``header:<Name>`` / ``field:<column>``.
    """

    label: str
    weight: float
    mirror: bool = False
    assign_by: str = "request_id"


class Strategy(Protocol):
    name: str

    def plan(self, spec: RolloutSpec) -> list[PlanStep]: ...


class Canary:
    """The candidate answers a growing share of requests, analysed at every step. At 100%
    the champion gets a copy of each request: otherwise that step would have nothing to
    compare the candidate with (and switching back stays instant)."""

    name = "canary"

    def plan(self, spec: RolloutSpec) -> list[PlanStep]:
        return [PlanStep(f"{w:g}%", w, w >= 100, spec.assignment) for w in spec.steps]


class BlueGreen:
    """The candidate first gets a mirrored copy of all traffic; when it passes, all traffic
    switches at once while the champion, still loaded, gets the copy (so switching back is a
    weight flip); a passing second step promotes."""

    name = "blue_green"

    def plan(self, spec: RolloutSpec) -> list[PlanStep]:
        return [PlanStep("mirror", 0.0, mirror=True), PlanStep("switched", 100.0, mirror=True)]


class Shadow:
    """Only production answers; the candidate gets a copy of every request."""

    name = "shadow"

    def plan(self, spec: RolloutSpec) -> list[PlanStep]:
        return [PlanStep("shadow", 0.0, mirror=True)]


class ABTest:
    """A fixed split; each key (user, session) always lands on the same arm."""

    name = "ab"

    def plan(self, spec: RolloutSpec) -> list[PlanStep]:
        split = spec.ab.split
        return [PlanStep(f"A/B {100 - split:g}/{split:g}", split, assign_by=spec.ab.sticky_key)]


class Strategies(Registry[Strategy]):
    """An explicit registry of strategies by name: duplicates are refused, unknown names
    answered with the valid ones."""

    def __init__(self) -> None:
        super().__init__("rollout strategy")

    def plan(self, spec: RolloutSpec) -> list[PlanStep]:
        return self.get(spec.strategy).plan(spec)


def default_strategies() -> Strategies:
    strategies = Strategies()
    for strategy in (Canary(), BlueGreen(), Shadow(), ABTest()):
        strategies.register(strategy)
    return strategies
