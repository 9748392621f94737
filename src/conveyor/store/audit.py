"""The audit trail: every stage change, approval and rollback, with who, when and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from conveyor.clock import aware
from conveyor.store.engine import Store
from conveyor.store.errors import store_errors
from conveyor.store.tables import audit_events


@dataclass(frozen=True)
class AuditEvent:
    model: str
    version: str | None
    action: str
    actor: str
    from_stage: str | None = None
    to_stage: str | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat() if self.at else None,
            "model": self.model,
            "version": self.version,
            "action": self.action,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
        }


class AuditLog:
    """Append-only audit events in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, event: AuditEvent, conn: Connection | None = None) -> AuditEvent:
        at = event.at or datetime.now(UTC)
        values = {
            "at": at,
            "model": event.model,
            "version": event.version,
            "action": event.action,
            "from_stage": event.from_stage,
            "to_stage": event.to_stage,
            "actor": event.actor,
            "reason": event.reason,
            "details": event.details,
        }
        with store_errors(f"record the audit event {event.action} of {event.model!r}"):
            if conn is not None:
                new_id = conn.execute(audit_events.insert().values(**values)).inserted_primary_key
            else:
                with self.store.engine.begin() as own:
                    insert = audit_events.insert().values(**values)
                    new_id = own.execute(insert).inserted_primary_key
        return AuditEvent(
            model=event.model,
            version=event.version,
            action=event.action,
            actor=event.actor,
            from_stage=event.from_stage,
            to_stage=event.to_stage,
            reason=event.reason,
            details=event.details,
            at=at,
            id=new_id[0] if new_id else None,
        )

    def history(
        self, model: str, limit: int = 200, conn: Connection | None = None
    ) -> list[AuditEvent]:
        """Events for ``model``, oldest first; pass ``conn`` when already inside a store lock."""
        query = (
            sa.select(audit_events)
            .where(audit_events.c.model == model)
            .order_by(audit_events.c.id.desc())
            .limit(limit)
        )
        with store_errors(f"read the audit trail of {model!r}"):
            if conn is not None:
                rows = conn.execute(query).mappings().all()
            else:
                with self.store.engine.connect() as own:
                    rows = own.execute(query).mappings().all()
        # the table's columns are the event's fields
        events = [
            AuditEvent(**{**r, "at": aware(r["at"]), "details": r["details"] or {}}) for r in rows
        ]
        return list(reversed(events))
