"""Rollouts in the store: create, read, and change them by compare-and-set.

Every change is one transaction that updates the rollout row only if its ``revision`` is the
one the caller read (else ``RevisionConflict``: someone else moved it first), optionally only
while the caller still holds the controller's lease (``fence``), and writes the transition
(with the analysis behind it) to ``rollout_events`` and an audit event — all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.clock import aware
from conveyor.errors import NotFoundError
from conveyor.rollout.errors import RolloutConflictError
from conveyor.rollout.state import Rollout, RolloutState, target
from conveyor.store.audit import AuditEvent, AuditLog
from conveyor.store.errors import store_errors
from conveyor.store.tables import rollout_events, rollouts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from conveyor.rollout.verdicts import StepVerdict
    from conveyor.spec.models import RolloutSpec
    from conveyor.store.engine import Store

Fence = Callable[["Connection"], bool]
_UNSET: Any = object()


class RevisionConflict(Exception):
    """The rollout changed since it was read; re-read and decide again."""


class LeaseLost(Exception):
    """The writer no longer holds the controller's lease; it must stop acting."""


@dataclass(frozen=True)
class RolloutEvent:
    id: int
    rollout_id: int
    at: datetime
    kind: str  # transition | analysis
    from_state: str | None
    to_state: str | None
    step: int
    verdict: str | None
    actor: str
    reason: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


class RolloutRecords:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.audit = AuditLog(store)

    # -- reading -------------------------------------------------------------------------
    def get(self, rollout_id: int) -> Rollout:
        found = self._select(rollouts.c.id == rollout_id)
        if not found:
            raise NotFoundError(f"no rollout with id {rollout_id}")
        return found[0]

    def active(self) -> list[Rollout]:
        """Every unfinished rollout, oldest first."""
        return self._select(rollouts.c.active_model.is_not(None))

    def active_for(self, model: str) -> Rollout | None:
        found = self._select(rollouts.c.active_model == model)
        return found[0] if found else None

    def latest(self, model: str) -> Rollout | None:
        found = self.for_model(model, limit=1)
        return found[0] if found else None

    def for_model(self, model: str, limit: int | None = None) -> list[Rollout]:
        """The model's rollouts, newest first."""
        return self._select(rollouts.c.model == model, newest=True, limit=limit)

    def owed(self) -> list[Rollout]:
        """Finished rollouts whose registry work (``pending``) is not done yet."""
        return self._select(rollouts.c.pending.is_not(None))

    def events(self, rollout_id: int) -> list[RolloutEvent]:
        query = (
            sa.select(rollout_events)
            .where(rollout_events.c.rollout_id == rollout_id)
            .order_by(rollout_events.c.id)
        )
        with store_errors("rollout events"), self.store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        # the table's columns are the event's fields
        return [
            RolloutEvent(**{**r, "at": aware(r["at"]), "evidence": r["evidence"] or {}})
            for r in rows
        ]

    # -- writing -------------------------------------------------------------------------
    def create(
        self,
        *,
        model: str,
        candidate: str,
        champion: str,
        spec: RolloutSpec,
        weights: dict[str, float],
        actor: str,
        reason: str,
        now: datetime,
    ) -> Rollout:
        """A new pending rollout; ``RolloutConflictError`` while another one of ``model`` runs."""
        values = {
            "model": model,
            "active_model": model,
            "candidate_version": candidate,
            "champion_version": champion,
            "strategy": spec.strategy,
            "state": RolloutState.PENDING.value,
            "step": 0,
            "weights": weights,
            "spec": spec.model_dump(mode="json"),
            "revision": 0,
            "actor": actor,
            "reason": reason,
            "started_at": now,
            "updated_at": now,
        }
        try:
            with store_errors(f"start a rollout of {model!r}"), self.store.engine.begin() as conn:
                self._refuse_second(conn, model)
                inserted = conn.execute(rollouts.insert().values(**values)).inserted_primary_key
                assert inserted is not None
                created = self._row(conn, int(inserted[0]))
                self._log(conn, created, "start", None, actor, reason, now, None)
        except sa.exc.IntegrityError:  # another start won the race for the unique active_model
            with store_errors(f"start a rollout of {model!r}"), self.store.engine.connect() as c:
                self._refuse_second(c, model)
            raise
        return created

    def transition(
        self,
        rollout: Rollout,
        command: str,
        *,
        actor: str,
        reason: str,
        now: datetime,
        step: int | None = None,
        weights: dict[str, float] | None = None,
        step_started_at: datetime | None = _UNSET,
        pending: str | None = _UNSET,
        analysis: StepVerdict | None = None,
        fence: Fence | None = None,
    ) -> Rollout:
        """Apply ``command`` to the rollout as read; the stored row must not have moved since."""
        to = target(rollout.model, rollout.state, command)
        values: dict[str, Any] = {
            "state": to.value,
            "revision": rollout.revision + 1,
            "updated_at": now,
            "reason": reason,
        }
        if step is not None:
            values["step"] = step
        if weights is not None:
            values["weights"] = weights
        if step_started_at is not _UNSET:
            values["step_started_at"] = step_started_at
        if pending is not _UNSET:
            values["pending"] = pending
        if to.terminal:
            values["active_model"] = None
            values["ended_at"] = now
        with (
            store_errors(f"{command} the rollout of {rollout.model!r}"),
            self.store.engine.begin() as conn,
        ):
            if fence is not None and not fence(conn):
                raise LeaseLost(f"lost the controller lease before {command}")
            moved = conn.execute(
                rollouts.update()
                .where(rollouts.c.id == rollout.id, rollouts.c.revision == rollout.revision)
                .values(**values)
            ).rowcount
            if not moved:
                raise RevisionConflict(f"rollout {rollout.id} changed before {command}")
            changed = self._row(conn, rollout.id)
            if analysis is not None:
                self._analysis(conn, changed, analysis, actor, now, step=rollout.step)
            self._log(conn, changed, command, rollout.state, actor, reason, now, analysis)
        return changed

    def record_analysis(
        self,
        rollout: Rollout,
        verdict: StepVerdict,
        *,
        actor: str,
        now: datetime,
        fence: Fence | None = None,
    ) -> None:
        """An analysis that moved nothing (the step waits for evidence)."""
        with (
            store_errors(f"record an analysis of {rollout.model!r}"),
            self.store.engine.begin() as conn,
        ):
            if fence is not None and not fence(conn):
                raise LeaseLost("lost the controller lease before recording an analysis")
            self._analysis(conn, rollout, verdict, actor, now, step=rollout.step)

    def settle(self, rollout: Rollout) -> None:
        """The registry work owed by ``rollout`` is done."""
        with (
            store_errors(f"settle the rollout of {rollout.model!r}"),
            self.store.engine.begin() as conn,
        ):
            conn.execute(rollouts.update().where(rollouts.c.id == rollout.id).values(pending=None))

    # -- internals -----------------------------------------------------------------------
    def _refuse_second(self, conn: Connection, model: str) -> None:
        running = conn.execute(
            sa.select(rollouts.c.id, rollouts.c.candidate_version, rollouts.c.state).where(
                rollouts.c.active_model == model
            )
        ).first()
        if running is not None:
            raise RolloutConflictError(
                f"{model} already has an active rollout (#{running.id}, version "
                f"{running.candidate_version}, {running.state}); promote, roll back or abort it "
                "first"
            )

    def _select(self, *where: Any, newest: bool = False, limit: int | None = None) -> list[Rollout]:
        order = rollouts.c.id.desc() if newest else rollouts.c.id
        query = sa.select(rollouts).where(*where).order_by(order).limit(limit)
        with store_errors("read rollouts"), self.store.reading() as conn:
            return [_rollout(r) for r in conn.execute(query).mappings().all()]

    def _row(self, conn: Connection, rollout_id: int) -> Rollout:
        row = conn.execute(sa.select(rollouts).where(rollouts.c.id == rollout_id)).mappings().one()
        return _rollout(row)

    def _analysis(
        self,
        conn: Connection,
        rollout: Rollout,
        verdict: StepVerdict,
        actor: str,
        now: datetime,
        step: int,
    ) -> None:
        conn.execute(
            rollout_events.insert().values(
                rollout_id=rollout.id,
                at=now,
                kind="analysis",
                step=step,
                verdict=verdict.decision.value,
                actor=actor,
                reason=verdict.reason,
                evidence=verdict.to_dict(),
            )
        )

    def _log(
        self,
        conn: Connection,
        rollout: Rollout,
        command: str,
        from_state: RolloutState | None,
        actor: str,
        reason: str,
        now: datetime,
        analysis: StepVerdict | None,
    ) -> None:
        details = {
            "rollout": rollout.id,
            "strategy": rollout.strategy,
            "champion": rollout.champion,
            "step": rollout.step,
            "weights": rollout.weights,
        }
        conn.execute(
            rollout_events.insert().values(
                rollout_id=rollout.id,
                at=now,
                kind="transition",
                from_state=from_state.value if from_state else None,
                to_state=rollout.state.value,
                step=rollout.step,
                verdict=analysis.decision.value if analysis else None,
                actor=actor,
                reason=reason,
                evidence=details,
            )
        )
        self.audit.record(
            AuditEvent(
                model=rollout.model,
                version=rollout.candidate,
                action=f"rollout.{command}",
                actor=actor,
                from_stage=from_state.value if from_state else None,
                to_stage=rollout.state.value,
                reason=reason,
                details=details,
                at=now,
            ),
            conn,
        )


def _rollout(row: Any) -> Rollout:
    from conveyor.spec.models import RolloutSpec

    return Rollout(
        id=row["id"],
        model=row["model"],
        candidate=row["candidate_version"],
        champion=row["champion_version"],
        strategy=row["strategy"],
        state=RolloutState(row["state"]),
        step=row["step"],
        weights={k: float(v) for k, v in row["weights"].items()},
        spec=RolloutSpec.model_validate(row["spec"]),
        revision=row["revision"],
        actor=row["actor"],
        reason=row["reason"],
        pending=row["pending"],
        started_at=aware(row["started_at"]),
        step_started_at=aware(row["step_started_at"]) if row["step_started_at"] else None,
        updated_at=aware(row["updated_at"]),
        ended_at=aware(row["ended_at"]) if row["ended_at"] else None,
    )
