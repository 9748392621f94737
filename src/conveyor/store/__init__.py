"""Conveyor's own durable state (SQLAlchemy Core): audit events now; inference log, feedback,
rollouts and alerts join the same metadata as they are built."""

from __future__ import annotations

from conveyor.store.audit import AuditEvent, AuditLog
from conveyor.store.engine import Store

__all__ = ["AuditEvent", "AuditLog", "Store"]
