"""Times as Conveyor stores and compares them: always timezone-aware, in UTC.

SQLite hands timezone-aware columns back naive (they were written in UTC), and a time
compared as stored text must be UTC too: these three say which of those a caller means.
"""

from __future__ import annotations

from datetime import UTC, datetime


def aware(at: datetime) -> datetime:
    """A time read back from a store: naive means UTC; an aware one is kept as it is."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def as_utc(at: datetime) -> datetime:
    """Any time in UTC: naive means UTC, an aware one is converted."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def utc_now_or(now: datetime | None) -> datetime:
    """``now`` in UTC, or the current time when it is not given (tests pass their clock)."""
    return datetime.now(UTC) if now is None else now.astimezone(UTC)
