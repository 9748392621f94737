"""Store.check: a SQLite file deleted or replaced under open connections, a store that was
unreachable when the process started, connections opened read-only."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor.errors import ServiceUnavailableError
from conveyor.serving.inference_log import encode
from conveyor.serving.ingest import ingest_segment
from conveyor.serving.spool import Spool
from conveyor.store.engine import Store
from conveyor.store.tables import audit_events
from tests.serving.faults import immutable
from tests.unit.test_ingest import logged_ids, record


def audit(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            audit_events.insert().values(
                at=datetime.now(UTC), model="m", action="a", actor="t", reason="", details={}
            )
        )


def audit_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from audit_events").fetchone()[0])


def test_a_deleted_file_is_created_again_with_its_tables(tmp_path: Path) -> None:
    db = tmp_path / "conveyor.db"
    store = Store(f"sqlite:///{db}").create()
    audit(store)
    assert store.check() is False
    for path in tmp_path.glob("conveyor.db*"):
        path.unlink()
    audit(store)  # an open connection writes into the deleted file: the row is gone
    assert not db.exists()
    assert store.check() is True
    assert store.replacements == 1
    audit(store)
    assert audit_rows(db) == 1
    assert store.check() is False


def test_a_replaced_file_is_opened_instead_of_the_old_one(tmp_path: Path) -> None:
    db = tmp_path / "conveyor.db"
    store = Store(f"sqlite:///{db}").create()
    audit(store)
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    os.replace(other, db)
    assert store.check() is True
    audit(store)
    assert audit_rows(db) == 1


def test_tables_are_created_once_an_unreachable_store_answers(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_bytes(b"")  # the store's directory cannot be made
    store = Store(f"sqlite:///{blocker / 'conveyor.db'}").open()
    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        store.check()
    blocker.unlink()
    assert store.check() is False
    audit(store)
    assert audit_rows(blocker / "conveyor.db") == 1


def test_connections_opened_read_only_are_replaced_once_the_file_is_writable(
    tmp_path: Path,
) -> None:
    db = tmp_path / "conveyor.db"
    Store(f"sqlite:///{db}").create().close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store = Store(f"sqlite:///{db}").open()
    with immutable(db) as make_writable:
        store.check()
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            audit(store)
        make_writable()
        audit(store)  # the pool's read-only connection is not used again
    assert audit_rows(db) == 1


class ReplacedAfterCommit(Store):
    """A real SQLite store whose file an operator deletes right after the first commit."""

    calls = 0

    def check(self) -> bool:
        self.calls += 1
        if self.calls == 2:  # the check after the first commit
            for path in Path(str(self.path)).parent.glob("conveyor.db*"):
                path.unlink()
        return super().check()


def test_a_segment_committed_into_a_deleted_file_is_ingested_again(tmp_path: Path) -> None:
    store = ReplacedAfterCommit(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    spool = Spool(tmp_path / "spool", "o-")
    spool.create()
    segment = spool.write("1", [encode(record(1)), encode(record(2))])
    assert ingest_segment(store, segment) == 2
    assert not segment.exists()
    assert sorted(logged_ids(store)) == ["r1", "r2"]  # in the new file
    assert store.replacements == 1
