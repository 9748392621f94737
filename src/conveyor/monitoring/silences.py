"""Silences: a person stops an alert's notifications for a while, with a reason.

A silenced alert is still evaluated, opened and resolved in the alert book (and shown by
`conveyor alerts list`); only its webhooks wait. A silence names a model and one rule (or every
rule), ends at ``until`` or when lifted, and keeps who set it and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.clock import aware
from conveyor.errors import NotFoundError, UserError
from conveyor.store.errors import store_errors
from conveyor.store.tables import alert_silences

if TYPE_CHECKING:
    from conveyor.store.engine import Store


@dataclass(frozen=True)
class Silence:
    id: int
    model: str
    rule: str | None  # None: every rule of the model
    until: datetime
    reason: str
    created_by: str
    created_at: datetime

    def covers(self, model: str, rule: str) -> bool:
        return self.model == model and self.rule in (None, rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "rule": self.rule or "*",
            "until": self.until.isoformat(timespec="seconds"),
            "reason": self.reason,
            "by": self.created_by,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


class Silences:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        model: str,
        rule: str | None,
        until: datetime,
        reason: str,
        by: str,
        now: datetime | None = None,
    ) -> Silence:
        now = now or datetime.now(UTC)
        if until <= now:
            raise UserError("a silence must end in the future")
        if not reason.strip():
            raise UserError("a silence needs a reason (--reason)")
        with store_errors("add a silence"), self.store.engine.begin() as conn:
            result = conn.execute(
                alert_silences.insert().values(
                    model=model,
                    rule=rule,
                    until=until,
                    reason=reason,
                    created_by=by,
                    created_at=now,
                )
            )
            new_id = result.inserted_primary_key[0]  # type: ignore[index]
            row = conn.execute(sa.select(alert_silences).where(alert_silences.c.id == new_id)).one()
        return _silence(row)

    def lift(self, silence_id: int, now: datetime | None = None) -> Silence:
        now = now or datetime.now(UTC)
        with store_errors("lift a silence"), self.store.engine.begin() as conn:
            row = conn.execute(
                sa.select(alert_silences).where(alert_silences.c.id == silence_id)
            ).one_or_none()
            if row is None or row.ended_at is not None or aware(row.until) <= now:
                raise NotFoundError(f"no active silence {silence_id}")
            conn.execute(
                alert_silences.update()
                .where(alert_silences.c.id == silence_id)
                .values(ended_at=now)
            )
        return _silence(row)

    def active(self, model: str | None = None, now: datetime | None = None) -> list[Silence]:
        now = now or datetime.now(UTC)
        query = sa.select(alert_silences).where(
            alert_silences.c.ended_at.is_(None) & (alert_silences.c.until > now)
        )
        if model is not None:
            query = query.where(alert_silences.c.model == model)
        with store_errors("read silences"), self.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(alert_silences.c.id)).all()
        # SQLite compares the stored text; check again with aware datetimes
        return [s for s in map(_silence, rows) if s.until > now]

    def covering(self, model: str, rule: str, now: datetime | None = None) -> Silence | None:
        return next((s for s in self.active(model, now) if s.covers(model, rule)), None)


def _silence(row: Any) -> Silence:
    return Silence(
        row.id,
        row.model,
        row.rule,
        aware(row.until),
        row.reason,
        row.created_by,
        aware(row.created_at),
    )
