"""Feedback in the store: labels joined to logged predictions, and labels waiting for theirs.

A label joins the inference log by request id and row. The log reaches the store through a
spool and an ingester, so a label may arrive before its prediction is in the store; such a
label is *held* in ``feedback_pending`` (bounded in rows and age) and the ingester *adopts* it
into ``feedback`` once the prediction is logged. A later label for the same (request id,
row) replaces an earlier one, whichever table it went through first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from conveyor.store.engine import Store
from conveyor.store.errors import store_errors
from conveyor.store.tables import feedback, feedback_pending, inference_log

LOOKUP_CHUNK = 500  # request ids per IN (...) list: well under every driver's parameter limit
WRITE_CHUNK = 1_000  # rows per executemany call, all in the caller's one transaction

Row = Mapping[str, Any]  # request_id, row, at, label


def predicted_rows(conn: Connection, request_ids: Iterable[str]) -> dict[str, int]:
    """How many rows the inference log holds answered (status 200) under each request id;
    ids it does not hold are absent."""
    ids = list(request_ids)
    log = inference_log.c
    found: dict[str, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        query = (
            sa.select(log.request_id, sa.func.max(log.rows))
            .where(log.request_id.in_(ids[start : start + LOOKUP_CHUNK]), log.status == 200)
            .group_by(log.request_id)
        )
        found.update({rid: int(rows) for rid, rows in conn.execute(query)})
    return found


def save_labels(conn: Connection, rows: Sequence[Row]) -> None:
    """Upsert labels into ``feedback``: one statement per chunk, never one per row."""
    _write(conn, feedback, rows)


def hold_labels(conn: Connection, rows: Sequence[Row], capacity: int, expired: datetime) -> int:
    """Hold the first labels that fit under ``capacity`` held rows (labels held since before
    ``expired`` are dropped first); returns how many were held."""
    conn.execute(sa.delete(feedback_pending).where(feedback_pending.c.at < expired))
    held = conn.execute(sa.select(sa.func.count()).select_from(feedback_pending)).scalar_one()
    taken = rows[: max(0, capacity - int(held))]
    _write(conn, feedback_pending, taken)
    return len(taken)


def adopt_pending(store: Store, expired: datetime) -> int:
    """Move held labels whose prediction is now logged into ``feedback``; drop those held
    since before ``expired``. Returns how many moved. Cheap when nothing is held."""
    held, log = feedback_pending.c, inference_log.c
    with store_errors("adopt held feedback"), store.engine.begin() as conn:
        if conn.execute(sa.select(held.id).limit(1)).first() is None:
            return 0
        conn.execute(sa.delete(feedback_pending).where(held.at < expired))
        logged = (
            sa.select(log.id)
            .where(log.request_id == held.request_id, log.status == 200, log.rows > held.row)
            .exists()
        )
        found = conn.execute(
            sa.select(held.id, held.request_id, held.row, held.at, held.label).where(logged)
        ).all()
        save_labels(
            conn,
            [{"request_id": r, "row": n, "at": at, "label": lab} for _, r, n, at, lab in found],
        )
        ids = [f[0] for f in found]
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start : start + LOOKUP_CHUNK]
            conn.execute(sa.delete(feedback_pending).where(held.id.in_(chunk)))
    return len(found)


def _write(conn: Connection, table: sa.Table, rows: Sequence[Row]) -> None:
    if not rows:
        return
    statement = _upsert(table, conn.dialect.name)
    for start in range(0, len(rows), WRITE_CHUNK):
        conn.execute(statement, list(rows[start : start + WRITE_CHUNK]))


def _upsert(table: sa.Table, dialect: str) -> Any:
    """Insert, or replace the label of the same (request id, row) unless the stored one is
    newer (a held label adopted late must not overwrite a label sent after it)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=["request_id", "row"],
        set_={"label": statement.excluded.label, "at": statement.excluded.at},
        where=statement.excluded.at >= table.c.at,
    )
