"""A named lease in the store: one holder at a time, until it expires unless renewed.

The rollout controller runs in every server process (and optionally as its own deployment),
but only the holder of the lease acts. A holder renews well before expiry; a holder that dies
or stalls stops renewing, and after ``ttl`` another one takes the lease over. Taking over is a
conditional UPDATE (``holder = me OR expires_at < now``), atomic on SQLite (``BEGIN
IMMEDIATE``) and on PostgreSQL (the row lock taken by UPDATE, whose condition is re-checked on
the latest row version), so two candidates never both succeed.

Time is passed in (``now``) so that callers and tests decide the clock; expiry is compared in
the database against that value, so holders' clocks must agree to within a fraction of the ttl.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from conveyor.clock import aware, utc_now_or
from conveyor.store.errors import store_errors
from conveyor.store.tables import leases

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from conveyor.store.engine import Store


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    expires_at: datetime


class Lease:
    """The lease ``name`` as seen by ``holder``; ``ttl`` is how long one grant lasts."""

    def __init__(self, store: Store, name: str, holder: str, ttl: timedelta) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.ttl = ttl

    def acquire(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free, expired or already ours (then it is renewed)."""
        now = utc_now_or(now)
        with store_errors(f"lease {self.name}"), self.store.engine.begin() as conn:
            taken = conn.execute(
                leases.update()
                .where(leases.c.name == self.name)
                .where(sa.or_(leases.c.holder == self.holder, leases.c.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.ttl)
            ).rowcount
            if taken:
                return True
            if conn.execute(sa.select(leases.c.name).where(leases.c.name == self.name)).first():
                return False  # someone else holds it and it has not expired
            try:
                with conn.begin_nested():  # a racing first holder makes this insert fail
                    conn.execute(
                        leases.insert().values(
                            name=self.name, holder=self.holder, expires_at=now + self.ttl
                        )
                    )
            except sa.exc.IntegrityError:
                return False
            return True

    def renew(self, now: datetime | None = None) -> bool:
        """Extend the lease while it is ours; False once another holder has taken it."""
        now = utc_now_or(now)
        with store_errors(f"lease {self.name}"), self.store.engine.begin() as conn:
            renewed = conn.execute(
                leases.update()
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=now + self.ttl)
            ).rowcount
        return bool(renewed)

    def release(self) -> None:
        """Give the lease up now (on shutdown), so a successor need not wait for expiry."""
        with store_errors(f"lease {self.name}"), self.store.engine.begin() as conn:
            conn.execute(
                leases.delete().where(leases.c.name == self.name, leases.c.holder == self.holder)
            )

    def current(self, now: datetime | None = None) -> LeaseInfo | None:
        """Who holds the lease now; None when nobody does or the grant expired."""
        now = utc_now_or(now)
        with store_errors(f"lease {self.name}"), self.store.engine.connect() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == self.name)).first()
        if row is None:
            return None
        info = LeaseInfo(row.name, row.holder, aware(row.expires_at))
        return info if info.expires_at >= now else None

    def held(self, conn: Connection, now: datetime) -> bool:
        """Inside a transaction: is the lease ours and unexpired? (fences a leader's writes)"""
        row = conn.execute(
            sa.select(leases.c.holder, leases.c.expires_at).where(leases.c.name == self.name)
        ).first()
        return (
            row is not None
            and row.holder == self.holder
            and aware(row.expires_at) >= utc_now_or(now)
        )
