"""Rollout routing in the server: the candidate loaded beside production, each request's arm.

Every ``CONVEYOR_ROLLOUT_POLL_SECONDS`` the server reads its model's active rollout from the
store and turns it into a ``RouteTable`` (the controller moves the weights; servers only
follow). All workers and replicas read the same row and hash the same keys, so a split holds
in aggregate. When the table names a candidate, the candidate version loads in the background
beside production (its own batcher) and requests start reaching it once it is ready; when the
rollout ends, the candidate is dropped, or, when it succeeded, becomes production in place (the
hand-over never sends traffic back to the old version while the alias refresh catches up). If the store cannot be read, traffic goes to production
until it can: the safe state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.rollout.router import Arm, Route, Router, RouteTable

if TYPE_CHECKING:
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.loop import LeaderLoop
    from conveyor.rollout.state import Rollout
    from conveyor.rollout.strategies import Strategies
    from conveyor.serving.manager import LoadedModel, ModelManager
    from conveyor.serving.metrics import ServerMetrics
    from conveyor.settings import Settings
    from conveyor.store.engine import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """What the rollout gauges show besides the weights."""

    ended: dict[str, int]  # finished rollouts of the model by outcome
    checks: dict[str, str]  # check -> verdict of the running rollout's latest analysis
    last: Rollout | None = None  # the newest rollout when none runs (it may have just ended)


def _read(store: Store, model: str) -> tuple[Rollout | None, Summary]:
    """The model's running rollout and its summary, in one connection."""
    import sqlalchemy as sa

    from conveyor.rollout.records import RolloutRecords
    from conveyor.store.errors import store_errors
    from conveyor.store.tables import rollout_events, rollouts

    records = RolloutRecords(store)
    rollout = records.active_for(model)
    last = records.latest(model) if rollout is None else None
    with store_errors(f"read the rollouts of {model!r}"), store.engine.connect() as conn:
        ended = {
            state: int(count)
            for state, count in conn.execute(
                sa.select(rollouts.c.state, sa.func.count())
                .where((rollouts.c.model == model) & rollouts.c.active_model.is_(None))
                .group_by(rollouts.c.state)
            )
        }
        checks: dict[str, str] = {}
        if rollout is not None:
            evidence = conn.execute(
                sa.select(rollout_events.c.evidence)
                .where(
                    (rollout_events.c.rollout_id == rollout.id)
                    & (rollout_events.c.kind == "analysis")
                )
                .order_by(rollout_events.c.id.desc())
                .limit(1)
            ).scalar()
            for check in (evidence or {}).get("checks", []):
                checks[str(check.get("name"))] = str(check.get("verdict"))
    return rollout, Summary(ended, checks, last)


@dataclass(frozen=True)
class Choice:
    """Who answers a request (``model``, on ``arm``) and who gets a copy (``mirror``)."""

    model: LoadedModel
    arm: str
    mirror: LoadedModel | None = None
    mirror_arm: str | None = None


class Routing:
    def __init__(
        self,
        store: Store,
        manager: ModelManager,
        poll_seconds: float,
        strategies: Strategies,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.store = store
        self.manager = manager
        self.poll_seconds = poll_seconds
        self.strategies = strategies
        self.metrics = metrics
        self._weights: set[tuple[str, str]] = set()
        self._checks: set[tuple[str, str, str]] = set()
        self.table: RouteTable | None = None
        self._router: Router | None = None
        self._candidate: LoadedModel | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def candidate(self) -> LoadedModel | None:
        return self._candidate

    async def start(self) -> None:
        if self.poll_seconds <= 0 or not self.manager.can_load_versions:
            return
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="conveyor-routing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_candidate()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.refresh()
            except Exception:  # never let routing kill the server: production answers
                log.exception("rollout routing: refresh failed; production answers")
                self._router = None

    async def refresh(self) -> None:
        """Read the rollout, load or drop the candidate, swap the router."""
        model = self.manager.current().identity.name
        try:
            rollout, summary = await asyncio.to_thread(_read, self.store, model)
        except Exception as exc:  # the store is down: the safe state until it is back
            if self._router is not None:
                log.warning("rollout routing: store unreachable (%s); production answers", exc)
            self._router = None
            return
        table = RouteTable.for_rollout(rollout, self.strategies) if rollout else None
        self._publish(model, rollout.step if rollout else -1, table)
        self._publish_summary(model, rollout, summary)
        if table is None or not table.active or table.candidate is None:
            if not await self._hand_over(summary.last):
                await self._drop_candidate()
            self._router, self.table = None, table
            return
        if self._candidate is None or self._candidate.identity.version != table.candidate:
            loaded = await self.manager.load_version(table.candidate)
            previous, self._candidate = self._candidate, loaded
            self.manager.side = loaded
            if previous is not None:
                await self.manager.retire(previous)
            log.info("rollout routing: candidate version %s loaded", table.candidate)
        if table != self.table or self._router is None:
            self._router = Router(table)
            self.table = table
            log.info(
                "rollout routing: candidate %s at %.4g%%%s",
                table.candidate,
                table.weight,
                ", mirrored" if table.mirror else "",
            )

    def _publish(self, model: str, step: int, table: RouteTable | None) -> None:
        """Rollout gauges: each version's share of answers, the step (-1: none)."""
        if self.metrics is None:
            return
        production = self.manager.current().identity.version
        weights = {production: 100.0}
        if table is not None and table.active and table.candidate is not None:
            weights = {table.champion: 100.0 - table.weight, table.candidate: table.weight}
        for key in self._weights - {(v, a) for v, a in self._arms(weights, table)}:
            with contextlib.suppress(KeyError):
                self.metrics.rollout_weight.remove(model, *key)
        self._weights = set()
        for version, arm in self._arms(weights, table):
            self.metrics.rollout_weight.labels(model, version, arm).set(weights[version])
            self._weights.add((version, arm))
        self.metrics.rollout_step.labels(model).set(step if table and table.active else -1)

    def _publish_summary(self, model: str, rollout: Rollout | None, summary: Summary) -> None:
        if self.metrics is None:
            return
        for outcome in ("succeeded", "rolled_back", "aborted"):
            self.metrics.rollouts_ended.labels(model, outcome).set(summary.ended.get(outcome, 0))
        current = {
            (rollout.candidate, check, verdict)
            for check, verdict in summary.checks.items()
            if rollout is not None
        }
        for labels in self._checks - current:
            with contextlib.suppress(KeyError):
                self.metrics.rollout_check.remove(model, *labels)
        for labels in current:
            self.metrics.rollout_check.labels(model, *labels).set(1)
        self._checks = current

    @staticmethod
    def _arms(weights: dict[str, float], table: RouteTable | None) -> list[tuple[str, str]]:
        candidate = table.candidate if table is not None and table.active else None
        return [(v, "candidate" if v == candidate else "production") for v in weights]

    async def _hand_over(self, last: Rollout | None) -> bool:
        """A rollout that just succeeded leaves its candidate taking the traffic: it becomes
        this server's production at once, before the router stops sending requests to it, so
        no answer comes from the old version while the alias refresh catches up."""
        from conveyor.rollout.state import RolloutState

        candidate = self._candidate
        if (
            candidate is None
            or last is None
            or last.state is not RolloutState.SUCCEEDED
            or last.candidate != candidate.identity.version
        ):
            return False
        # the router keeps sending the candidate's share to it until it is production
        adopted = await self.manager.adopt(candidate)
        self._router, self._candidate, self.manager.side = None, None, None
        if adopted:
            log.info("rollout routing: candidate %s now serves as production", last.candidate)
        else:  # the alias refresh loaded the same version first: this copy is spare
            await self.manager.retire(candidate)
        self._publish(last.model, -1, None)
        return True

    async def _drop_candidate(self) -> None:
        candidate, self._candidate = self._candidate, None
        self.manager.side = None
        if candidate is not None:
            await self.manager.retire(candidate)
            log.info("rollout routing: candidate version %s dropped", candidate.identity.version)

    def choose(
        self,
        production: LoadedModel,
        request_id: str,
        headers: Mapping[str, str] | None,
        columns: Mapping[str, Any],
    ) -> Choice:
        router, candidate = self._router, self._candidate
        if router is None or candidate is None:
            return Choice(production, Arm.PRODUCTION.value)
        route: Route = router.route(request_id, headers, columns)
        by_arm = {Arm.PRODUCTION: production, Arm.CANDIDATE: candidate}
        if route.mirror is None:
            return Choice(by_arm[route.arm], route.arm.value)
        return Choice(by_arm[route.arm], route.arm.value, by_arm[route.mirror], route.mirror.value)


def start_leader(settings: Settings, store: Store, controller: Controller) -> LeaderLoop:
    """The leader loop of this server process's rollout controller (every process runs one;
    the store's lease lets one act). The registry opens only when a rollout needs it."""
    from conveyor.rollout.log_evidence import EvidenceByTask
    from conveyor.rollout.loop import LeaderLoop

    # any model's rollouts: each judged by its own task, read from its champion's bundle
    evidence = EvidenceByTask(settings, store)
    loop = LeaderLoop(controller, evidence, settings.rollout_controller_seconds)
    loop.start()
    return loop
