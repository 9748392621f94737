"""The rollout controller: people's commands and the leader's ``tick``.

Commands (start, pause, resume, promote, rollback, abort) may come from any process; each is a
compare-and-set on the stored rollout, so two of them cannot both apply. ``tick`` is called
by a leader loop in every server (or ``conveyor controller``); only the holder of the store's
lease acts, and each of its writes checks the lease again in the same transaction, so a
leader that stalled past its lease cannot act on stale reads.

A tick walks each unfinished rollout one move forward: a pending rollout gets its first
step's weights; a progressing step is analysed on the evidence of its window — a failing
check rolls back at once, otherwise the step's end decides (advance, promote, roll back,
pause, or wait for evidence up to ``max_wait_seconds``). State lives only in the store, so a
new controller (a restart, another replica) continues at the same step.

The registry moves only at the end, in an order that leaves traffic safe at every point:

- promote: the row goes to ``promoting`` first, then ``ModelRegistry.promote`` moves
  ``production`` (the previous version becomes ``archived``, still addressable), then the row
  is ``succeeded``. A crash in between leaves ``promoting``, which the leader finishes (the
  alias check makes it idempotent); a refused promotion (approval) goes back to ``paused``.
- roll back: the row goes to ``rolled_back`` with all traffic on the champion first, then the
  candidate is tagged ``conveyor.stage=rejected`` with the reason; if that fails (MLflow down)
  the row keeps ``pending = "reject"`` and the leader retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.clock import utc_now_or
from conveyor.errors import ConveyorError, UserError
from conveyor.rollout.errors import NoActiveRolloutError
from conveyor.rollout.judge import IDLE_WEIGHTS, judge_step, next_move, step_weights
from conveyor.rollout.lease import Lease
from conveyor.rollout.records import LeaseLost, RevisionConflict, RolloutRecords
from conveyor.rollout.registry_moves import (
    candidate_and_champion,
    promote_candidate,
    reject_candidate,
)
from conveyor.rollout.state import Rollout, RolloutState, target
from conveyor.rollout.strategies import PlanStep, Strategies, default_strategies
from conveyor.rollout.verdicts import Decision, StepVerdict
from conveyor.rollout.webhooks import EVENTS, Notifier, payload

if TYPE_CHECKING:
    from conveyor.registry.stages import ModelRegistry
    from conveyor.rollout.evidence import EvidenceProvider
    from conveyor.spec.models import RolloutSpec
    from conveyor.store.engine import Store

log = logging.getLogger(__name__)
# a step waiting for evidence is recorded at most this often
WAIT_RECORD_SECONDS = 60.0

LEASE_NAME = "rollout-controller"


class Controller:
    """Drives the rollouts stored in ``store``; ``holder`` names this process in the lease.

    ``registry`` is called each time the registry is needed (``rollout.wiring.RegistryOnDemand``
    opens MLflow on the first call only): pause, resume, abort, status or a leader with nothing
    to promote never open it.
    """

    def __init__(
        self,
        store: Store,
        registry: Callable[[], ModelRegistry],
        *,
        holder: str,
        lease_ttl: timedelta = timedelta(seconds=30),
        notify: Notifier | None = None,
        strategies: Strategies | None = None,
    ) -> None:
        self.records = RolloutRecords(store)
        self._registry = registry
        self.lease = Lease(store, LEASE_NAME, holder, lease_ttl)
        self.actor = f"controller@{holder}"
        self.notify = notify
        self.strategies = strategies if strategies is not None else default_strategies()
        self._waits: dict[int, datetime] = {}  # rollout id -> when a wait was last recorded

    @property
    def registry(self) -> ModelRegistry:
        return self._registry()

    # -- reading -------------------------------------------------------------------------
    def status(self, model: str) -> Rollout | None:
        """The model's active rollout, else its latest finished one, else None."""
        return self.records.active_for(model) or self.records.latest(model)

    def plan(self, rollout: Rollout) -> list[PlanStep]:
        return self.strategies.plan(rollout.spec)

    # -- commands ------------------------------------------------------------------------
    def start(
        self,
        model: str,
        candidate: str,
        spec: RolloutSpec,
        *,
        actor: str,
        reason: str = "",
        now: datetime | None = None,
    ) -> Rollout:
        """A pending rollout of ``candidate`` against the current production version."""
        self.strategies.plan(spec)  # an unknown strategy is refused before anything is read
        info, champion = candidate_and_champion(self.registry, model, candidate)
        rollout = self.records.create(
            model=model,
            candidate=info.version,
            champion=champion.version,
            spec=spec,
            weights=dict(IDLE_WEIGHTS),
            actor=actor,
            reason=reason,
            now=utc_now_or(now),
        )
        self._notify(rollout, "start", reason)
        return rollout

    def pause(
        self, model: str, *, actor: str, reason: str = "", now: datetime | None = None
    ) -> Rollout:
        return self._command(model, "pause", actor, reason, utc_now_or(now))

    def resume(
        self, model: str, *, actor: str, reason: str = "", now: datetime | None = None
    ) -> Rollout:
        """Continue the current step; its clock (and its evidence window) starts again."""
        at = utc_now_or(now)
        return self._command(model, "resume", actor, reason, at, step_started_at=at)

    def abort(
        self, model: str, *, actor: str, reason: str = "", now: datetime | None = None
    ) -> Rollout:
        """Stop without judging the candidate: all traffic back on production."""
        return self._command(
            model, "abort", actor, reason, utc_now_or(now), weights=dict(IDLE_WEIGHTS)
        )

    def rollback(
        self, model: str, *, actor: str, reason: str = "", now: datetime | None = None
    ) -> Rollout:
        """Stop and reject the candidate: all traffic back on production."""
        rollout = self._command(
            model,
            "rollback",
            actor,
            reason,
            utc_now_or(now),
            weights=dict(IDLE_WEIGHTS),
            pending="reject",
        )
        return self._settle(rollout, actor)

    def promote(
        self, model: str, *, actor: str, reason: str = "", now: datetime | None = None
    ) -> Rollout:
        """Promote now, skipping the remaining steps."""
        at = utc_now_or(now)
        rollout = self._command(model, "promote", actor, reason, at)
        try:
            return self._finish_promotion(rollout, actor, reason, at)
        except RevisionConflict:  # the leader finished it meanwhile
            return self.records.get(rollout.id)

    # -- the leader ----------------------------------------------------------------------
    def tick(self, now: datetime | None, evidence: EvidenceProvider) -> list[Rollout]:
        """One pass of the leader: returns the rollouts it changed ([] when not the leader).

        Raises ``ServiceUnavailableError`` when the store cannot be reached for the lease;
        any other failure is logged per rollout and retried on the next tick.
        """
        at = utc_now_or(now)
        if not self.lease.acquire(at):
            return []

        def fence(conn: Any) -> bool:
            return self.lease.held(conn, at)

        changed: list[Rollout] = []
        try:
            for rollout in self.records.owed():
                self._try(self._settle, (rollout, self.actor), rollout, changed)
            for rollout in self.records.active():
                self._try(self._advance, (rollout, evidence, at, fence), rollout, changed)
        except LeaseLost as exc:
            log.warning("rollout controller %s: %s; stepping down", self.lease.holder, exc)
        return changed

    def release(self) -> None:
        """Give up the lease (on shutdown) so another controller takes over at once."""
        self.lease.release()

    # -- internals -----------------------------------------------------------------------
    def _try(
        self,
        move: Callable[..., Rollout | None],
        args: tuple[Any, ...],
        rollout: Rollout,
        changed: list[Rollout],
    ) -> None:
        try:
            moved = move(*args)
        except RevisionConflict:
            return  # a command changed it meanwhile; the next tick sees the new state
        except ConveyorError as exc:
            log.warning("rollout #%d of %s: %s", rollout.id, rollout.model, exc.message)
            return
        if moved is not None:
            changed.append(moved)

    def _advance(
        self, rollout: Rollout, evidence: EvidenceProvider, now: datetime, fence: Any
    ) -> Rollout | None:
        plan = self.plan(rollout)
        if rollout.state is RolloutState.PENDING:
            return self._move(
                rollout,
                "begin",
                f"step 1 of {len(plan)}: {plan[0].label}",
                now,
                fence=fence,
                step=0,
                weights=step_weights(plan[0]),
                step_started_at=now,
            )
        if rollout.state is RolloutState.PROMOTING:
            if now - rollout.updated_at < self.lease.ttl:
                return None  # the process that started the promotion is finishing it
            return self._finish_promotion(rollout, self.actor, rollout.reason, now, fence)
        if rollout.state is not RolloutState.PROGRESSING:
            return None
        verdict = judge_step(rollout, evidence, now)
        if verdict is None:
            return None
        return self._act(rollout, plan, verdict, now, fence)

    def _act(
        self,
        rollout: Rollout,
        plan: list[PlanStep],
        verdict: StepVerdict,
        now: datetime,
        fence: Any,
    ) -> Rollout | None:
        if verdict.decision is Decision.WAIT:
            # one waiting analysis a minute is the record; every round would flood the events
            last = self._waits.get(rollout.id)
            if last is None or (now - last).total_seconds() >= WAIT_RECORD_SECONDS:
                self.records.record_analysis(
                    rollout, verdict, actor=self.actor, now=now, fence=fence
                )
                self._waits[rollout.id] = now
            return None
        move = next_move(rollout, plan, verdict, now)
        moved = self._move(
            rollout, move.command, move.reason, now, fence=fence, analysis=verdict, **move.changes
        )
        if move.command == "rollback":
            return self._settle(moved, self.actor)
        if move.command == "promote":
            return self._finish_promotion(moved, self.actor, move.reason, now, fence)
        return moved

    def _finish_promotion(
        self, rollout: Rollout, actor: str, reason: str, now: datetime, fence: Any = None
    ) -> Rollout:
        """Move ``production`` to the candidate (unless it is there already), then succeed.

        A registry refusal (approval, rejection) pauses the rollout; an unreachable MLflow
        raises and leaves it ``promoting`` for the leader to finish.
        """
        model, version = rollout.model, rollout.candidate
        try:
            promote_candidate(self.registry, rollout, actor, reason or "rollout")
        except UserError as exc:
            return self._move(
                rollout, "refuse", f"promotion refused: {exc.message}", now, actor, fence
            )
        return self._move(
            rollout,
            "succeed",
            f"{model} version {version} is production ({reason})" if reason else "",
            now,
            actor,
            fence,
            weights=dict(IDLE_WEIGHTS),
        )

    def _settle(self, rollout: Rollout, actor: str) -> Rollout:
        """Tag a rolled-back candidate rejected, once. Traffic is already back on the
        champion, so a failure here (MLflow unreachable) is logged and retried by the leader."""
        if rollout.pending != "reject":
            return rollout
        try:
            reject_candidate(self.registry, rollout, actor, rollout.reason or "rolled back")
            self.records.settle(rollout)
        except ConveyorError as exc:
            log.warning(
                "rollout #%d of %s rolled back; tagging version %s rejected failed, will retry: %s",
                rollout.id,
                rollout.model,
                rollout.candidate,
                exc.message,
            )
            return rollout
        return self.records.get(rollout.id)

    def _command(
        self, model: str, command: str, actor: str, reason: str, now: datetime, **changes: Any
    ) -> Rollout:
        """Apply a person's command to the model's active rollout, re-reading on a conflict."""
        for _ in range(5):
            rollout = self.records.active_for(model)
            if rollout is None:
                raise NoActiveRolloutError(model, command)
            target(model, rollout.state, command)  # a clear error naming the current state
            try:
                return self._move(rollout, command, reason, now, actor, **changes)
            except RevisionConflict:
                continue
        raise ConveyorError(f"the rollout of {model!r} kept changing; try {command} again")

    def _move(
        self,
        rollout: Rollout,
        command: str,
        reason: str,
        now: datetime,
        actor: str | None = None,
        fence: Any = None,
        **changes: Any,
    ) -> Rollout:
        moved = self.records.transition(
            rollout,
            command,
            actor=actor or self.actor,
            reason=reason,
            now=now,
            fence=fence,
            **changes,
        )
        self._notify(moved, command, reason)
        return moved

    def _notify(self, rollout: Rollout, command: str, reason: str) -> None:
        if self.notify is None or not rollout.spec.webhooks:
            return
        try:
            self.notify(rollout.spec.webhooks, EVENTS[command], payload(rollout, reason))
        except Exception:  # a notification never undoes or blocks a committed transition
            log.exception("rollout #%d: webhook for %s failed", rollout.id, command)
