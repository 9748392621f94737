"""`Store.reading()` on SQLite: a read does not queue behind a writer holding the lock (a
promotion, the ingester's batch); it sees the last committed state. A plain connection, whose
transaction begins IMMEDIATE, waits for the lock and fails at the busy timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor.store.engine import Store
from conveyor.store.tables import locks


def test_a_read_goes_past_a_writer_holding_the_lock(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    with store.engine.begin() as conn:
        conn.execute(locks.insert().values(name="committed", holder="a"))
    count = sa.select(sa.func.count()).select_from(locks)
    with store.engine.begin() as writer:  # holds the write lock until the block ends
        writer.execute(locks.insert().values(name="uncommitted", holder="b"))
        started = time.monotonic()
        with store.reading() as reader:
            assert reader.execute(count).scalar_one() == 1  # the committed state only
        assert time.monotonic() - started < 1
        with store.engine.connect() as plain:
            driver = plain.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA busy_timeout=200")
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                plain.execute(count)
    with store.reading() as reader:
        assert reader.execute(count).scalar_one() == 2
    store.close()
