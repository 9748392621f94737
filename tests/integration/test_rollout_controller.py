"""The rollout controller on a real MLflow registry (SQLite) and a real store: full canary,
blue-green, shadow and A/B rollouts; a failing candidate rolled back and rejected; restarts,
lost leases, refused commands, an unreachable store or MLflow; signed webhooks.

A copy of the session's `conveyor run` of wine (``wine_trained``) gives version 1, promoted to
production for the module; versions 2-5 are registered in MLflow from the same run with
Conveyor's tags, and each test works on its own copy of the home. Evidence is synthetic, produced per step by a scripted provider.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from conveyor.errors import (
    ApprovalRequiredError,
    NotFoundError,
    ServiceUnavailableError,
    UserError,
)
from conveyor.registry import tags as T
from conveyor.registry.client import connect
from conveyor.registry.stages import ModelRegistry
from conveyor.rollout.controller import Controller
from conveyor.rollout.errors import (
    IllegalTransitionError,
    NoActiveRolloutError,
    RolloutConflictError,
)
from conveyor.rollout.evidence import ArmEvidence, Evidence, Pairs
from conveyor.rollout.registry_moves import REJECTED_REASON
from conveyor.rollout.router import Arm, Route, Router, RouteTable
from conveyor.rollout.state import Rollout, RolloutState
from conveyor.rollout.webhooks import webhook_notifier
from conveyor.settings import Settings
from conveyor.spec.models import AnalysisSpec, RolloutSpec
from conveyor.store import AuditLog, Store

pytestmark = pytest.mark.integration

FAST = AnalysisSpec(min_requests=100, min_pairs=100, min_labels=50, max_wait_seconds=120)
HOOK = "http://hooks.invalid/rollouts"
STEP = timedelta(seconds=60)


# -- the registry, built once ----------------------------------------------------------------
@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, wine_trained: Path) -> Path:
    """A home with wine 1 in production and candidates 2 (good), 3 (needs approval), 4 (failed
    gates), 5 (good); returns the home directory."""
    home = tmp_path_factory.mktemp("rollout-registry") / "home"
    shutil.copytree(wine_trained, home)
    settings = Settings(home=home)
    store = Store(settings.store_url).create()
    try:
        client = connect(settings)
        ModelRegistry(client, store).promote("wine", "1", T.PRODUCTION, "setup", "first version")
        first = client.get_model_version("wine", "1")
        assert first.source is not None
        base = {k: v for k, v in first.tags.items() if k != T.STAGE} | {T.STAGE: T.STAGING}
        for extra in (
            {},
            {T.REQUIRE_APPROVAL: "true"},
            {T.GATES: "4 passed, 1 failed"},
            {},
        ):
            client.create_model_version("wine", first.source, first.run_id, tags=base | extra)
    finally:
        store.close()
    return home


# -- per test: a copy of the home, a controller, scripted evidence ---------------------------
@dataclass
class World:
    store: Store
    registry: ModelRegistry
    t0: datetime
    notes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def controller(self, holder: str = "a", ttl: float = 30) -> Controller:
        def notify(urls: Any, event: str, payload: Any) -> None:
            assert list(urls) == [HOOK]
            self.notes.append((event, dict(payload)))

        return Controller(
            self.store,
            lambda: self.registry,
            holder=holder,
            lease_ttl=timedelta(seconds=ttl),
            notify=notify,
        )

    def at(self, seconds: float) -> datetime:
        return self.t0 + timedelta(seconds=seconds)

    def stage(self, version: str) -> str:
        return self.registry.get("wine", version).stage

    def production(self) -> str:
        found = self.registry.by_alias("wine", T.PRODUCTION)
        assert found is not None
        return found.version

    def events(self, rollout: Rollout) -> list[tuple[str, str | None, str | None]]:
        return [
            (e.kind, e.to_state, e.verdict)
            for e in Controller(self.store, lambda: self.registry, holder="x").records.events(
                rollout.id
            )
        ]


@pytest.fixture
def world(registered: Path, home: Path) -> Iterator[World]:
    shutil.copytree(registered, home)
    settings = Settings(home=home)
    store = Store(settings.store_url).create()
    try:
        yield World(store, ModelRegistry(connect(settings), store), datetime.now(UTC))
    finally:
        store.close()


def arm(version: str, seed: int, n: int = 400, worse: bool = False) -> ArmEvidence:
    rng = np.random.default_rng(seed)
    predictions = rng.choice(3, n, p=(0.1, 0.2, 0.7) if worse else (0.5, 0.3, 0.2))
    return ArmEvidence(
        version=version,
        requests=n,
        errors=int(rng.binomial(n, 0.2 if worse else 0.01)),
        latencies_ms=rng.lognormal(np.log(30 if worse else 10), 0.3, n).tolist(),
        predictions=predictions.tolist(),
    )


class Scripted:
    """Evidence per call: ``good`` (an equal candidate), ``bad`` or ``tiny`` (too little);
    the next kind is set by the test. Records each window it was asked for."""

    def __init__(self, kind: str = "good", pairs: bool = False) -> None:
        self.kind = kind
        self.pairs = pairs
        self.windows: list[tuple[int, datetime, datetime]] = []

    def __call__(self, rollout: Rollout, since: datetime, until: datetime) -> Evidence:
        self.windows.append((rollout.step, since, until))
        seed = len(self.windows) * 10
        n = 20 if self.kind == "tiny" else 400
        champion = arm(rollout.champion, seed, n)
        candidate = arm(rollout.candidate, seed + 1, n, worse=self.kind == "bad")
        pairs = None
        if self.pairs:
            pairs = Pairs(champion.predictions, candidate.predictions[:n])
            if self.kind != "bad":
                pairs = Pairs(champion.predictions, champion.predictions)
        return Evidence("classification", champion, candidate, pairs)


def canary(**changes: Any) -> RolloutSpec:
    values: dict[str, Any] = {
        "steps": [10, 50, 100],
        "step_seconds": 60,
        "analysis": FAST,
        "webhooks": [HOOK],
    }
    return RolloutSpec.model_validate(values | changes)


def start(world: World, version: str = "2", **changes: Any) -> Rollout:
    return world.controller().start(
        "wine", version, canary(**changes), actor="alice", reason="better C", now=world.t0
    )


def route(world: World, controller: Controller) -> RouteTable:
    rollout = controller.status("wine")
    assert rollout is not None
    return RouteTable.for_rollout(rollout, controller.strategies)


# -- the happy path ---------------------------------------------------------------------------
def test_canary_steps_through_to_promotion(world: World) -> None:
    rollout = start(world)
    assert (rollout.state, rollout.champion, rollout.candidate) == (RolloutState.PENDING, "1", "2")
    controller, evidence = world.controller(), Scripted()

    (begun,) = controller.tick(world.at(1), evidence)
    assert (begun.state, begun.step, begun.weights) == (
        RolloutState.PROGRESSING,
        0,
        {"production": 90, "candidate": 10},
    )
    assert route(world, controller) == RouteTable(
        "wine", "1", "2", 10, False, "request_id", f"rollout-{rollout.id}"
    )
    assert controller.tick(world.at(30), evidence) == []  # mid-step, nothing failing
    (second,) = controller.tick(world.at(62), evidence)
    assert (second.step, second.weights["candidate"]) == (1, 50)
    assert evidence.windows[-1] == (0, world.at(1), world.at(62))  # the step's whole window
    (third,) = controller.tick(world.at(123), evidence)
    assert (third.step, third.weights["candidate"]) == (2, 100)
    # all traffic on the candidate; the champion gets a copy to compare with
    assert Router(route(world, controller)).route("r") == Route(Arm.CANDIDATE, Arm.PRODUCTION)
    (done,) = controller.tick(world.at(184), evidence)
    assert done.state is RolloutState.SUCCEEDED
    assert done.ended_at == world.at(184)
    assert "step 3 of 3 (100%), the last, passed" in done.reason

    assert world.production() == "2"
    assert world.stage("2") == T.PRODUCTION
    assert world.stage("1") == T.ARCHIVED  # the champion stays addressable
    assert route(world, controller) == RouteTable.idle("wine", "2")
    assert controller.tick(world.at(300), evidence) == []  # nothing left to do

    assert world.events(done) == [
        ("transition", "pending", None),
        ("transition", "progressing", None),
        ("analysis", None, "pass"),
        ("transition", "progressing", "pass"),
        ("analysis", None, "pass"),
        ("transition", "progressing", "pass"),
        ("analysis", None, "pass"),
        ("transition", "promoting", "pass"),
        ("transition", "succeeded", None),
    ]
    analysis = controller.records.events(done.id)[2].evidence
    assert {c["name"] for c in analysis["checks"]} == {
        "error_rate",
        "latency",
        "prediction_shift",
        "online_accuracy",
    }
    assert analysis["checks"][0]["numbers"]["candidate_requests"] == 400
    assert [e for e, _ in world.notes] == [
        "rollout.started",
        "rollout.progressing",
        "rollout.step",
        "rollout.step",
        "rollout.promoting",
        "rollout.succeeded",
    ]
    actions = [e.action for e in AuditLog(world.store).history("wine")]
    assert actions[-8:] == [
        "rollout.start",
        "rollout.begin",
        "rollout.advance",
        "rollout.advance",
        "rollout.promote",
        "promote",
        "promote",
        "rollout.succeed",
    ]


def test_a_failing_candidate_is_rolled_back_and_rejected(world: World) -> None:
    world.registry.client.set_registered_model_alias("wine", T.STAGING, "2")  # as a run leaves it
    rollout = start(world)
    controller, evidence = world.controller(), Scripted()
    controller.tick(world.at(1), evidence)
    controller.tick(world.at(62), evidence)  # step 1 passed: 50% on the candidate
    evidence.kind = "bad"
    (failed,) = controller.tick(world.at(80), evidence)  # fails fast, mid-step
    assert failed.state is RolloutState.ROLLED_BACK
    assert failed.weights == {"production": 100, "candidate": 0}
    assert failed.reason.startswith("step 2 of 3 (50%) failed: failed before the step ended:")
    assert "error_rate: error rate" in failed.reason

    assert world.production() == "1"  # never moved
    assert route(world, controller) == RouteTable.idle("wine", "1")
    version = world.registry.get("wine", "2")
    assert version.stage == T.REJECTED
    assert version.tags[REJECTED_REASON] == failed.reason
    assert T.STAGING not in version.aliases  # rejection moves staging off the version
    assert world.registry.by_alias("wine", T.STAGING) is None
    reject = [e for e in AuditLog(world.store).history("wine") if e.action == "reject"]
    assert [(e.version, e.from_stage, e.to_stage) for e in reject] == [("2", "staging", "rejected")]

    verdict = controller.records.events(rollout.id)[-2]
    assert (verdict.kind, verdict.verdict) == ("analysis", "fail")
    checks = {c["name"]: c for c in verdict.evidence["checks"]}
    assert checks["error_rate"]["verdict"] == "fail"
    assert checks["error_rate"]["numbers"]["candidate_rate"] > 0.1
    assert world.notes[-1][0] == "rollout.rolled_back"
    assert controller.status("wine").pending is None  # type: ignore[union-attr]
    with pytest.raises(UserError, match="was rejected"):
        start(world)


# -- restarts and leadership -------------------------------------------------------------------
def test_a_restarted_controller_continues_at_the_same_step(world: World) -> None:
    start(world)
    first, evidence = world.controller("pod-a"), Scripted()
    first.tick(world.at(1), evidence)
    first.tick(world.at(62), evidence)  # at step 1 (50%) since t0+62
    del first  # killed mid-step: never released its lease

    again = world.controller("pod-b")
    assert again.tick(world.at(70), evidence) == []  # pod-a's lease runs until t0+92
    assert again.tick(world.at(93), evidence) == []  # leader now, mid-step: nothing to do
    assert evidence.windows[-1] == (1, world.at(62), world.at(93))  # same step, same clock
    (moved,) = again.tick(world.at(123), evidence)
    assert (moved.step, moved.weights["candidate"]) == (2, 100)


def test_only_the_lease_holder_acts_and_another_takes_over_after_expiry(world: World) -> None:
    start(world)
    a, b, evidence = world.controller("a"), world.controller("b"), Scripted()
    assert [r.state for r in a.tick(world.at(1), evidence)] == [RolloutState.PROGRESSING]
    assert b.tick(world.at(20), evidence) == []  # a holds the lease until t0+31
    assert a.tick(world.at(25), evidence) == []  # mid-step; a renews until t0+55
    assert b.tick(world.at(50), evidence) == []
    (moved,) = b.tick(world.at(62), evidence)  # a stopped renewing: b leads
    assert moved.step == 1
    assert a.tick(world.at(70), evidence) == []  # a came back: b holds it until t0+92


def test_a_leader_that_stalls_past_its_lease_cannot_write(world: World) -> None:
    start(world)
    a, b = world.controller("a"), world.controller("b")
    a.tick(world.at(1), Scripted())

    def stalls(rollout: Rollout, since: datetime, until: datetime) -> Evidence:
        # while a gathers evidence its lease (t0+62..92) runs out and b takes it, without
        # acting yet: only the fence, not the revision check, can stop a's write
        assert b.lease.acquire(world.at(95))
        return Scripted()(rollout, since, until)

    assert a.tick(world.at(62), stalls) == []
    rollout = a.status("wine")
    assert rollout is not None
    assert (rollout.state, rollout.step) == (
        RolloutState.PROGRESSING,
        0,
    )  # a's verdict was not applied
    (moved,) = b.tick(world.at(96), Scripted())
    assert moved.step == 1
    steps = [e for e in a.records.events(rollout.id) if e.kind == "transition"]
    assert [e.actor for e in steps] == ["alice", "controller@a", "controller@b"]


# -- refused commands ---------------------------------------------------------------------------
def test_a_second_rollout_of_the_model_is_refused(world: World) -> None:
    first = start(world)
    with pytest.raises(RolloutConflictError, match=rf"#{first.id}, version 2, pending") as err:
        start(world, "5")
    assert err.value.http_status == 409
    world.controller().abort("wine", actor="bob", reason="wrong version")
    assert start(world, "5").candidate == "5"


def test_the_database_refuses_a_second_active_rollout_too(world: World) -> None:
    """Even a writer that skips the controller's check cannot add a second active rollout."""
    from conveyor.store.tables import rollouts

    start(world)
    with pytest.raises(sa.exc.IntegrityError), world.store.engine.begin() as conn:
        conn.execute(
            rollouts.insert().values(
                model="wine",
                active_model="wine",
                candidate_version="5",
                champion_version="1",
                strategy="canary",
                state="pending",
                weights={},
                spec={},
                started_at=world.t0,
                updated_at=world.t0,
            )
        )


def test_commands_with_nothing_running_are_clear_errors(world: World) -> None:
    controller = world.controller()
    for command in (controller.abort, controller.pause, controller.promote, controller.rollback):
        with pytest.raises(NoActiveRolloutError, match="no active rollout of 'wine'") as err:
            command("wine", actor="bob")
        assert err.value.http_status == 404
    assert controller.status("wine") is None


def test_illegal_transitions_name_the_current_state(world: World) -> None:
    start(world)
    controller = world.controller()
    with pytest.raises(IllegalTransitionError, match=r"cannot pause .* it is pending") as err:
        controller.pause("wine", actor="bob")
    assert err.value.http_status == 409
    with pytest.raises(IllegalTransitionError, match=r"cannot resume .* it is pending"):
        controller.resume("wine", actor="bob")
    controller.tick(world.at(1), Scripted())
    with pytest.raises(IllegalTransitionError, match=r"it is progressing .*allowed when paused"):
        controller.resume("wine", actor="bob")


@pytest.mark.parametrize(
    ("version", "error", "message"),
    [
        ("3", ApprovalRequiredError, "needs approval before it can roll out"),
        ("4", UserError, r"failed its quality gates \(4 passed, 1 failed\)"),
        ("1", UserError, "already in production"),
        ("99", NotFoundError, "no version 99"),
    ],
)
def test_start_refuses_unfit_versions(
    world: World, version: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        start(world, version)
    assert world.controller().status("wine") is None


def test_an_approved_version_may_roll_out(world: World) -> None:
    world.registry.approve("wine", "3", "carol", "reviewed")
    assert start(world, "3").state is RolloutState.PENDING


def test_start_needs_a_production_version(world: World) -> None:
    world.registry.client.delete_registered_model_alias("wine", T.PRODUCTION)
    with pytest.raises(UserError, match="no production version to roll out against"):
        start(world)


def test_an_unknown_strategy_is_refused_before_anything_is_read(world: World) -> None:
    from conveyor.rollout.strategies import Strategies

    empty = Controller(world.store, lambda: world.registry, holder="a", strategies=Strategies())
    with pytest.raises(UserError, match="unknown rollout strategy 'canary'"):
        empty.start("wine", "2", canary(), actor="alice")


# -- people's commands ---------------------------------------------------------------------------
def test_pause_holds_traffic_and_resume_restarts_the_step(world: World) -> None:
    start(world)
    controller, evidence = world.controller(), Scripted()
    controller.tick(world.at(1), evidence)
    paused = controller.pause("wine", actor="bob", reason="holiday", now=world.at(10))
    assert (paused.state, paused.weights["candidate"]) == (RolloutState.PAUSED, 10)
    assert route(world, controller).weight == 10
    assert controller.tick(world.at(500), evidence) == []  # nothing is judged while paused
    resumed = controller.resume("wine", actor="bob", now=world.at(600))
    assert (resumed.state, resumed.step, resumed.step_started_at) == (
        RolloutState.PROGRESSING,
        0,
        world.at(600),
    )
    assert controller.tick(world.at(640), evidence) == []  # the step's clock started again
    (moved,) = controller.tick(world.at(661), evidence)
    assert moved.step == 1
    assert [e for e, _ in world.notes][2:4] == ["rollout.paused", "rollout.resumed"]


def test_promote_by_hand_skips_the_remaining_steps(world: World) -> None:
    start(world)
    controller = world.controller()
    controller.tick(world.at(1), Scripted())
    done = controller.promote("wine", actor="carol", reason="looks fine", now=world.at(5))
    assert done.state is RolloutState.SUCCEEDED
    assert world.production() == "2"
    promote = [e for e in AuditLog(world.store).history("wine") if e.action == "promote"][-2]
    assert (promote.version, promote.actor, promote.reason) == ("2", "carol", "looks fine")


def test_rollback_by_hand_rejects_and_abort_does_not(world: World) -> None:
    start(world)
    controller = world.controller()
    controller.tick(world.at(1), Scripted())
    aborted = controller.abort("wine", actor="bob", reason="wrong day", now=world.at(5))
    assert (aborted.state, aborted.weights["candidate"]) == (RolloutState.ABORTED, 0)
    assert world.stage("2") == T.STAGING  # not judged
    start(world)
    controller.tick(world.at(10), Scripted())
    gone = controller.rollback("wine", actor="bob", reason="customer complaints")
    assert gone.state is RolloutState.ROLLED_BACK
    assert world.stage("2") == T.REJECTED
    assert world.registry.get("wine", "2").tags[REJECTED_REASON] == "customer complaints"
    assert world.production() == "1"


def test_without_auto_promote_the_last_step_waits_for_a_person(world: World) -> None:
    start(world, steps=[100], auto_promote=False)
    controller, evidence = world.controller(), Scripted()
    controller.tick(world.at(1), evidence)
    (waiting,) = controller.tick(world.at(62), evidence)
    assert waiting.state is RolloutState.PAUSED
    assert waiting.reason.endswith("promote by hand")
    assert world.production() == "1"
    assert controller.promote("wine", actor="carol").state is RolloutState.SUCCEEDED


# -- waiting for evidence --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "state"), [("rollback", RolloutState.ROLLED_BACK), ("pause", RolloutState.PAUSED)]
)
def test_inconclusive_waits_up_to_its_limit(world: World, action: str, state: RolloutState) -> None:
    analysis = FAST.model_copy(update={"on_inconclusive": action})
    rollout = start(world, analysis=analysis)
    controller, evidence = world.controller(), Scripted("tiny")
    controller.tick(world.at(1), evidence)
    assert controller.tick(world.at(62), evidence) == []  # step over, too little data: wait
    assert controller.tick(world.at(150), evidence) == []
    (ended,) = controller.tick(world.at(182), evidence)  # 121 s past the step's end
    assert ended.state is state
    assert "still inconclusive 121 s after the step ended" in ended.reason
    waits = [e for e in controller.records.events(rollout.id) if e.verdict == "wait"]
    assert len(waits) == 2
    assert waits[0].evidence["checks"][0]["reason"] == "20 requests on each arm, fewer than 100"


def test_a_waiting_step_is_recorded_once_a_minute_not_every_round(world: World) -> None:
    rollout = start(world)
    controller, evidence = world.controller(), Scripted("tiny")
    controller.tick(world.at(1), evidence)
    for second in range(62, 150, 5):  # a leader ticking every 5 s through the wait
        assert controller.tick(world.at(second), evidence) == []
    waits = [e.at for e in controller.records.events(rollout.id) if e.verdict == "wait"]
    assert len(waits) == 2 and (waits[1] - waits[0]).total_seconds() >= 60


class Unavailable:
    """Evidence that cannot be read (say, the champion's bundle cannot be fetched)."""

    def __call__(self, rollout: Rollout, since: datetime, until: datetime) -> Evidence:
        raise RuntimeError("bundle unavailable")


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("rollback", RolloutState.ROLLED_BACK),
        ("pause", RolloutState.PAUSED),
        ("proceed", RolloutState.PAUSED),
    ],
)
def test_evidence_that_never_comes_does_not_hold_a_step_forever(
    world: World, action: str, state: RolloutState
) -> None:
    analysis = FAST.model_copy(update={"on_inconclusive": action})
    start(world, analysis=analysis)
    controller = world.controller()
    controller.tick(world.at(1), Scripted("good"))  # begins step 1
    assert controller.tick(world.at(100), Unavailable()) == []  # within max_wait: retry
    (ended,) = controller.tick(world.at(182), Unavailable())  # never proceeds blind
    assert ended.state is state and "no evidence 121 s after the step ended" in ended.reason
    assert world.production() == "1"


def test_more_evidence_after_waiting_lets_the_step_pass(world: World) -> None:
    start(world)
    controller, evidence = world.controller(), Scripted("tiny")
    controller.tick(world.at(1), evidence)
    assert controller.tick(world.at(62), evidence) == []
    evidence.kind = "good"
    (moved,) = controller.tick(world.at(90), evidence)
    assert moved.step == 1


# -- faults ---------------------------------------------------------------------------------------
class Outage:
    """Points the store at a server that refuses connections, and back."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.working = store._engine

    def __enter__(self) -> None:
        self.store._engine = sa.create_engine("postgresql+psycopg://x@127.0.0.1:1/none")

    def __exit__(self, *exc: object) -> None:
        assert self.store._engine is not None
        self.store._engine.dispose()
        self.store._engine = self.working


def test_an_unreachable_store_changes_nothing(world: World) -> None:
    start(world)
    controller, evidence = world.controller(), Scripted()
    controller.tick(world.at(1), evidence)
    with Outage(world.store):
        with pytest.raises(ServiceUnavailableError, match="the store is unreachable"):
            controller.pause("wine", actor="bob")
        with pytest.raises(ServiceUnavailableError, match="lease rollout-controller"):
            controller.tick(world.at(62), evidence)
        with pytest.raises(ServiceUnavailableError):
            start(world, "5")
    rollout = controller.status("wine")
    assert rollout is not None
    assert (rollout.state, rollout.step) == (RolloutState.PROGRESSING, 0)  # traffic as it was
    (moved,) = controller.tick(world.at(62), evidence)  # and it carries on once back
    assert moved.step == 1


class FlakyRegistry(ModelRegistry):
    """The real registry, except that MLflow is unreachable while ``down`` is set."""

    down = False

    def promote(self, name: str, version: str, to: str, actor: str, reason: str) -> Any:
        if self.down:
            raise ServiceUnavailableError("MLflow tracking server unreachable")
        return super().promote(name, version, to, actor, reason)

    def get(self, name: str, version: str | None = None) -> Any:
        if self.down:
            raise ServiceUnavailableError("MLflow tracking server unreachable")
        return super().get(name, version)


def flaky(world: World) -> tuple[Controller, FlakyRegistry]:
    registry = FlakyRegistry(world.registry.client, world.store)
    world.registry = registry
    return world.controller(), registry


def test_mlflow_down_during_promotion_leaves_it_promoting_until_the_leader_finishes(
    world: World,
) -> None:
    start(world, steps=[100])
    controller, registry = flaky(world)
    evidence = Scripted()
    controller.tick(world.at(1), evidence)
    registry.down = True
    assert controller.tick(world.at(62), evidence) == []  # promotion could not finish
    rollout = controller.status("wine")
    assert rollout is not None
    assert rollout.state is RolloutState.PROMOTING
    assert world.production() == "1"  # the alias did not move at all
    with pytest.raises(IllegalTransitionError, match=r"cannot abort .* it is promoting"):
        controller.abort("wine", actor="bob")
    registry.down = False
    assert controller.tick(world.at(70), evidence) == []  # within the grace period
    (done,) = controller.tick(world.at(93), evidence)  # the leader finishes it
    assert done.state is RolloutState.SUCCEEDED
    assert world.production() == "2"


def test_mlflow_down_during_rollback_is_retried_with_traffic_already_back(world: World) -> None:
    start(world)
    controller, registry = flaky(world)
    controller.tick(world.at(1), Scripted())
    registry.down = True
    (failed,) = controller.tick(world.at(30), Scripted("bad"))
    assert failed.state is RolloutState.ROLLED_BACK
    assert failed.weights["candidate"] == 0  # safe first
    assert failed.pending == "reject"  # the registry work is owed
    registry.down = False
    assert world.stage("2") == T.STAGING
    (settled,) = controller.tick(world.at(40), Scripted())
    assert settled.pending is None
    assert world.stage("2") == T.REJECTED


def test_a_promotion_cut_short_by_a_crash_is_finished_once(world: World) -> None:
    start(world)
    crashed = world.controller("pod-a")
    (running,) = crashed.tick(world.at(1), Scripted())
    # pod-a moved the rollout to promoting and MLflow's alias, then died before "succeeded"
    promoting = crashed.records.transition(
        running, "promote", actor="controller@pod-a", reason="by hand", now=world.at(5)
    )
    world.registry.promote("wine", "2", T.PRODUCTION, "controller@pod-a", "by hand")
    promotions = len([e for e in AuditLog(world.store).history("wine") if e.action == "promote"])
    successor = world.controller("pod-b")
    # pod-b leads once pod-a's lease ends (t0+31), and leaves the promotion alone for a
    # lease's length after its last change, in case its owner is still finishing it
    assert successor.tick(world.at(32), Scripted()) == []
    (done,) = successor.tick(world.at(40), Scripted())
    assert (done.id, done.state) == (promoting.id, RolloutState.SUCCEEDED)
    assert world.production() == "2"
    again = [e for e in AuditLog(world.store).history("wine") if e.action == "promote"]
    assert len(again) == promotions  # finished, not promoted a second time


def test_a_refused_promotion_pauses_for_a_person(world: World) -> None:
    start(world, steps=[100])
    controller, evidence = world.controller(), Scripted()
    controller.tick(world.at(1), evidence)
    world.registry.client.set_model_version_tag("wine", "2", T.REQUIRE_APPROVAL, "true")
    (paused,) = controller.tick(world.at(62), evidence)
    assert paused.state is RolloutState.PAUSED
    assert paused.reason.startswith("promotion refused: wine version 2 needs approval")
    assert world.production() == "1"
    world.registry.approve("wine", "2", "carol", "ok")
    assert controller.promote("wine", actor="carol").state is RolloutState.SUCCEEDED


# -- the other strategies -----------------------------------------------------------------------------
def test_blue_green_mirrors_then_switches_and_switches_back_at_once(world: World) -> None:
    start(world, strategy="blue_green")
    controller, evidence = world.controller(), Scripted(pairs=True)
    controller.tick(world.at(1), evidence)
    assert Router(route(world, controller)).route("r") == Route(Arm.PRODUCTION, Arm.CANDIDATE)
    (switched,) = controller.tick(world.at(62), evidence)
    assert switched.weights == {"production": 0, "candidate": 100}
    assert Router(route(world, controller)).route("r") == Route(Arm.CANDIDATE, Arm.PRODUCTION)
    evidence.kind = "bad"
    (back,) = controller.tick(world.at(70), evidence)
    assert back.state is RolloutState.ROLLED_BACK
    assert Router(route(world, controller)).route("r") == Route(Arm.PRODUCTION)
    checks = controller.records.events(back.id)[-2].evidence["checks"]
    assert {c["name"]: c["verdict"] for c in checks}["agreement"] == "fail"


def test_shadow_judges_paired_outputs_then_promotes(world: World) -> None:
    rollout = start(world, strategy="shadow")
    controller, evidence = world.controller(), Scripted(pairs=True)
    controller.tick(world.at(1), evidence)
    assert Router(route(world, controller)).route("r") == Route(Arm.PRODUCTION, Arm.CANDIDATE)
    (done,) = controller.tick(world.at(62), evidence)
    assert done.state is RolloutState.SUCCEEDED
    checks = controller.records.events(rollout.id)[2].evidence["checks"]
    assert {c["name"]: c["verdict"] for c in checks}["agreement"] == "pass"


def test_ab_splits_by_key_until_the_decision(world: World) -> None:
    start(world, strategy="ab", ab={"split": 30, "sticky_key": "header:X-User"})
    controller, evidence = world.controller(), Scripted()
    controller.tick(world.at(1), evidence)
    table = route(world, controller)
    assert (table.weight, table.assign_by) == (30, "header:X-User")
    router = Router(table)
    assert len({router.route(f"r{i}", {"X-User": "u1"}).arm for i in range(20)}) == 1
    (done,) = controller.tick(world.at(62), evidence)
    assert done.state is RolloutState.SUCCEEDED


# -- webhooks -----------------------------------------------------------------------------------------
class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_rollout_events_reach_webhooks_signed(world: World, receiver: Receiver) -> None:
    from conveyor.notify import WebhookPolicy, verify

    url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/rollouts"
    allow_loopback = WebhookPolicy(("127.0.0.1",))
    controller = Controller(
        world.store,
        lambda: world.registry,
        holder="a",
        notify=webhook_notifier("s3cret", allow_loopback),
    )
    spec = canary(webhooks=[url], steps=[100])
    controller.start("wine", "2", spec, actor="alice", now=world.t0)
    controller.tick(world.at(1), Scripted())
    controller.tick(world.at(62), Scripted())
    events = [json.loads(body)["event"] for _, body in receiver.received]
    assert events == [
        "rollout.started",
        "rollout.progressing",
        "rollout.promoting",
        "rollout.succeeded",
    ]
    headers, body = receiver.received[-1]
    assert verify("s3cret", headers, body)
    payload = json.loads(body)
    assert (payload["model"], payload["candidate"], payload["state"]) == ("wine", "2", "succeeded")


def test_a_webhook_that_fails_never_blocks_a_transition(world: World) -> None:
    def broken(urls: Any, event: str, payload: Any) -> None:
        raise RuntimeError("receiver exploded")

    controller = Controller(world.store, lambda: world.registry, holder="a", notify=broken)
    controller.start("wine", "2", canary(), actor="alice", now=world.t0)
    assert [r.state for r in controller.tick(world.at(1), Scripted())] == [RolloutState.PROGRESSING]


def test_rollout_webhooks_to_internal_addresses_are_refused_at_send(
    world: World, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A rollout started (through the admin API, say) with webhooks to the machine's own
    network: nothing reaches them, each refusal is logged, the rollout goes on."""
    port = receiver.server_address[1]
    hooks = [
        f"http://127.0.0.1:{port}/loopback",
        f"http://localhost:{port}/by-name",  # a name: resolved and re-checked at send
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::ffff:127.0.0.1]:{port}/mapped",
    ]
    controller = Controller(
        world.store, lambda: world.registry, holder="a", notify=webhook_notifier(None)
    )
    spec = canary(webhooks=hooks, steps=[100])
    controller.start("wine", "2", spec, actor="alice", now=world.t0)
    controller.tick(world.at(1), Scripted())
    assert receiver.received == []
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("127.0.0.1 is a loopback address" in line for line in refused), refused
    assert any("localhost (127.0.0.1) is a loopback address" in line for line in refused)
    assert any("169.254.169.254 is a link-local address" in line for line in refused)
    assert any("loopback" in line and "::ffff:127.0.0.1" in line for line in refused)
    assert all("/latest/meta-data" not in line for line in refused)  # paths never logged
