"""Ground truth arriving after the prediction, stored by request id (and row) for joining."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from conveyor.errors import Problem
from conveyor.serving.inputs import RequestError, bad_request
from conveyor.store.engine import Store
from conveyor.store.tables import feedback


def parse_feedback(body: Any, classes: list[Any]) -> list[dict[str, Any]]:
    """``{"request_id", "label", "row"?}`` or ``{"feedback": [...]}`` → rows to store."""
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    items = body.get("feedback", [body]) if "feedback" in body else [body]
    if not isinstance(items, list) or not items:
        raise bad_request("feedback", "must be a non-empty list")
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    known = {str(c) for c in classes}
    for i, item in enumerate(items):
        where = f"feedback[{i}]" if "feedback" in body else ""
        prefix = f"{where}." if where else ""
        if not isinstance(item, dict):
            problems.append(Problem(where or "body", "must be an object"))
            continue
        rid = item.get("request_id")
        row = item.get("row", 0)
        if not isinstance(rid, str) or not rid or len(rid) > 100:
            problems.append(Problem(f"{prefix}request_id", "must be a non-empty string"))
        if type(row) is not int or row < 0:
            problems.append(Problem(f"{prefix}row", "must be a non-negative integer"))
        if "label" not in item:
            problems.append(Problem(f"{prefix}label", "missing"))
            continue
        label = item["label"]
        if classes:
            if (
                isinstance(label, bool)
                or not isinstance(label, str | int | float)
                or str(label) not in known
            ):
                problems.append(Problem(f"{prefix}label", f"must be one of {sorted(known)}"))
        elif (
            isinstance(label, bool)
            or not isinstance(label, int | float)
            or not math.isfinite(label)
        ):
            problems.append(Problem(f"{prefix}label", "must be a finite number"))
        rows.append({"request_id": rid, "row": row, "at": now, "label": label})
    if problems:
        raise RequestError(problems)
    return rows


def store_feedback(store: Store, rows: list[dict[str, Any]]) -> int:
    """Insert, replacing an earlier label for the same request and row."""
    with store.engine.begin() as conn:
        for row in rows:
            conn.execute(
                sa.delete(feedback).where(
                    (feedback.c.request_id == row["request_id"]) & (feedback.c.row == row["row"])
                )
            )
        conn.execute(feedback.insert(), rows)
    return len(rows)
