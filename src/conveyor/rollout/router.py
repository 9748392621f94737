"""Which arm answers a request, and whether the other arm gets a copy.

Every server process builds a ``Router`` from the model's ``RouteTable`` (read from the store)
and asks it once per request. Assignment by key hashes ``salt + key`` with BLAKE2b, so it is
the same in every process and on every replica (Python's ``hash`` is salted per process), and
a new rollout (a new salt) reshuffles keys. A key's point in [0, 1) does not change between
steps, so as a canary's weight grows a key that reached the candidate stays there.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.rollout.state import Rollout
    from conveyor.rollout.strategies import Strategies

_SCALE = float(2**64)


class Arm(StrEnum):
    PRODUCTION = "production"
    CANDIDATE = "candidate"

    @property
    def other(self) -> Arm:
        return Arm.CANDIDATE if self is Arm.PRODUCTION else Arm.PRODUCTION


@dataclass(frozen=True)
class Route:
    """``arm`` answers; ``mirror``, when set, gets a copy whose answer is only logged."""

    arm: Arm
    mirror: Arm | None = None


@dataclass(frozen=True)
class RouteTable:
    """What a server needs to split one model's traffic; ``idle`` when nothing rolls out."""

    model: str
    champion: str
    candidate: str | None = None
    weight: float = 0.0  # percent of requests the candidate answers
    mirror: bool = False
    assign_by: str = "request_id"
    salt: str = ""

    @classmethod
    def idle(cls, model: str, production: str) -> RouteTable:
        return cls(model, production)

    @classmethod
    def for_rollout(cls, rollout: Rollout, strategies: Strategies) -> RouteTable:
        """The table for a stored rollout: its weights while it runs, production otherwise."""
        from conveyor.rollout.state import RolloutState

        if rollout.state is RolloutState.SUCCEEDED:
            return cls.idle(rollout.model, rollout.candidate)
        if rollout.state.terminal or rollout.state is RolloutState.PENDING:
            return cls.idle(rollout.model, rollout.champion)
        step = strategies.plan(rollout.spec)[rollout.step]
        return cls(
            rollout.model,
            rollout.champion,
            rollout.candidate,
            weight=rollout.weights.get(Arm.CANDIDATE, 0.0),
            mirror=step.mirror,
            assign_by=step.assign_by,
            salt=f"rollout-{rollout.id}",
        )

    @property
    def active(self) -> bool:
        return self.candidate is not None

    def version(self, arm: Arm) -> str:
        if arm is Arm.CANDIDATE:
            if self.candidate is None:
                raise ValueError(f"{self.model} has no candidate: nothing rolls out")
            return self.candidate
        return self.champion


def key_point(salt: str, key: str) -> float:
    """A key's stable point in [0, 1): BLAKE2b of salt and key, the same in every process."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """Routes requests by one ``RouteTable``; build a new one when the table changes."""

    def __init__(self, table: RouteTable, rng: random.Random | None = None) -> None:
        self.table = table
        self._rng = rng or random.Random()
        source, _, name = table.assign_by.partition(":")
        self._source = source
        self._name = name.lower() if source == "header" else name

    def route(
        self,
        request_id: str,
        headers: Mapping[str, str] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Route:
        """The arm for one request. ``headers`` are the HTTP headers, ``fields`` the decoded
        input (column -> value, or column -> values of which the first row's is the key). A
        request without its sticky key is assigned by its request id."""
        table = self.table
        if not table.active:
            return Route(Arm.PRODUCTION)
        if table.weight >= 100:
            arm = Arm.CANDIDATE
        elif table.weight <= 0:
            arm = Arm.PRODUCTION
        else:
            point = self._point(request_id, headers, fields)
            arm = Arm.CANDIDATE if point * 100 < table.weight else Arm.PRODUCTION
        return Route(arm, arm.other if table.mirror else None)

    def _point(
        self,
        request_id: str,
        headers: Mapping[str, str] | None,
        fields: Mapping[str, Any] | None,
    ) -> float:
        if self._source == "random":
            return self._rng.random()
        key: Any = None
        if self._source == "header" and headers:
            key = next((v for k, v in headers.items() if k.lower() == self._name), None)
        elif self._source == "field" and fields:
            key = fields.get(self._name)
            if not isinstance(key, str | bytes) and hasattr(key, "__len__"):
                key = key[0] if len(key) else None  # a column: the first row's value
        if key is None or key == "":
            key = request_id
        return key_point(self.table.salt, str(key))
