"""Ground truth arriving after the prediction: checked against what was predicted, stored by
request id and row for joining, and answered item by item.

``FeedbackDesk.submit`` runs on a worker thread (the route hands it the decoded body), so the
event loop keeps answering predictions while a batch is checked and written. In order:

1. shape and size: a batch over ``CONVEYOR_FEEDBACK_MAX_ITEMS`` labels is refused whole
   (413) before anything else is looked at;
2. rate: the process's label budget (``CONVEYOR_FEEDBACK_RATE`` a second) pays for the batch,
   or it is refused whole (429 with Retry-After);
3. every label is checked (request id, row, a label of the model's type); problems, up to a
   bounded number, answer 422 naming each item's field;
4. each (request id, row) is matched to a prediction: first against the ids this process
   answered lately (``RecentPredictions``), then against the inference log in the store.
   A match is stored in ``feedback`` (*joined*); a row beyond what the request predicted is
   *rejected*; an id the store does not know yet is *held* (the log arrives through a
   spool, and with several workers or replicas another process may have answered it) until
   the ingester logs its prediction, at most ``CONVEYOR_FEEDBACK_PENDING_SECONDS`` and at
   most ``CONVEYOR_FEEDBACK_PENDING_MAX`` held labels in all; beyond that, *rejected*.

The answer counts each outcome and lists the labels that did not join (the first
``REPORTED`` of them, with their index in the batch and the reason).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor.errors import Problem, RateLimitedError
from conveyor.serving.inputs import MAX_PROBLEMS, RequestError, bad_request
from conveyor.serving.recent import RecentPredictions
from conveyor.settings import Settings
from conveyor.store.engine import Store
from conveyor.store.errors import store_errors
from conveyor.store.feedback import hold_labels, predicted_rows, save_labels

REPORTED = 100  # labels that did not join, listed in an answer; the rest are only counted
MAX_ROW = 2**31 - 1  # the store's integer column


@dataclass(frozen=True, slots=True)
class Label:
    index: int  # position in the batch
    request_id: str
    row: int
    label: Any


@dataclass
class Receipt:
    """What became of a batch: counts per outcome, and the first labels that did not join."""

    joined: int = 0
    pending: int = 0
    rejected: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)

    def note(self, label: Label, outcome: str, reason: str) -> None:
        if outcome == "pending":
            self.pending += 1
        else:
            self.rejected += 1
        if len(self.unmatched) < REPORTED:
            self.unmatched.append(
                {
                    "index": label.index,
                    "request_id": label.request_id,
                    "row": label.row,
                    "outcome": outcome,
                    "reason": reason,
                }
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.joined + self.pending,
            "joined": self.joined,
            "pending": self.pending,
            "rejected": self.rejected,
            "unmatched": self.unmatched,  # in batch order
            "unmatched_omitted": self.pending + self.rejected - len(self.unmatched),
        }


class LabelBudget:
    """A token bucket: ``rate`` labels a second, up to ``burst`` saved; thread-safe."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._at = clock()
        self._lock = threading.Lock()

    def take(self, n: int) -> float:
        """Spend ``n`` labels' worth and return 0, or return the seconds until it could."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= n:
                self._tokens -= n
                return 0.0
            return (n - self._tokens) / self.rate


class FeedbackDesk:
    """One per server process: checks, matches and stores labels (see the module's doc)."""

    def __init__(
        self,
        store: Store,
        recent: RecentPredictions,
        *,
        max_items: int,
        rate: float,
        pending_max: int,
        pending_seconds: float,
    ) -> None:
        self.store = store
        self.recent = recent
        self.max_items = max_items
        self.pending_max = pending_max
        self.pending_seconds = pending_seconds
        self.budget = LabelBudget(rate, max(rate, float(max_items)))

    @classmethod
    def from_settings(
        cls, settings: Settings, store: Store, recent: RecentPredictions
    ) -> FeedbackDesk:
        return cls(
            store,
            recent,
            max_items=settings.feedback_max_items,
            rate=settings.feedback_rate,
            pending_max=settings.feedback_pending_max,
            pending_seconds=settings.feedback_pending_seconds,
        )

    def submit(self, body: Any, classes: list[Any]) -> dict[str, Any]:
        """``{"request_id", "label", "row"?}`` or ``{"feedback": [...]}`` → the receipt."""
        items, batched = feedback_items(body, self.max_items)
        wait = self.budget.take(len(items))
        if wait:
            raise RateLimitedError(
                f"feedback: over the rate of {self.budget.rate:g} labels a second "
                "(CONVEYOR_FEEDBACK_RATE); retry later",
                retry_after=max(1, math.ceil(wait)),
            )
        return self.store_labels(check_labels(items, classes, batched)).to_dict()

    def store_labels(self, labels: list[Label]) -> Receipt:
        """Match and store checked labels in one transaction."""
        now = datetime.now(UTC)
        latest: dict[tuple[str, int], Label] = {}  # a later label for the same row wins
        highest: dict[str, int] = {}
        for label in labels:
            latest[(label.request_id, label.row)] = label
            highest[label.request_id] = max(label.row, highest.get(label.request_id, 0))
        known = {rid: self.recent.rows(rid) or 0 for rid in highest}
        unsure = [rid for rid, top in highest.items() if known[rid] <= top]
        receipt = Receipt()
        with store_errors("store feedback"), self.store.engine.begin() as conn:
            for rid, rows in predicted_rows(conn, unsure).items():
                known[rid] = max(known[rid], rows)
            joined: list[dict[str, Any]] = []
            waiting: list[Label] = []
            outcome: dict[tuple[str, int], tuple[str, str]] = {}
            for key, label in latest.items():
                rows = known[label.request_id]
                if label.row < rows:
                    joined.append(_stored(label, now))
                elif rows:
                    reason = f"row {label.row} is out of range: the request predicted {rows} rows"
                    outcome[key] = ("rejected", reason)
                else:
                    waiting.append(label)
            save_labels(conn, joined)
            held = 0
            if waiting and self.pending_max > 0:
                expired = now - timedelta(seconds=self.pending_seconds)
                rows_held = [_stored(label, now) for label in waiting]
                held = hold_labels(conn, rows_held, self.pending_max, expired)
            for i, label in enumerate(waiting):
                key = (label.request_id, label.row)
                if i < held:
                    outcome[key] = (
                        "pending",
                        "no logged prediction yet: held until it is logged, at most "
                        f"{self.pending_seconds:g} s",
                    )
                elif self.pending_max > 0:
                    outcome[key] = (
                        "rejected",
                        f"no logged prediction, and {self.pending_max} labels already wait "
                        "for theirs",
                    )
                else:
                    outcome[key] = ("rejected", "no logged prediction with this request id")
        for label in labels:
            result = outcome.get((label.request_id, label.row))
            if result is None:
                receipt.joined += 1
            else:
                receipt.note(label, *result)
        return receipt


def _stored(label: Label, at: datetime) -> dict[str, Any]:
    return {"request_id": label.request_id, "row": label.row, "at": at, "label": label.label}


def feedback_items(body: Any, max_items: int) -> tuple[list[Any], bool]:
    """The body's items (one object, or the ``feedback`` list) and whether it was a list."""
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    if "feedback" not in body:
        return [body], False
    items = body["feedback"]
    if not isinstance(items, list) or not items:
        raise bad_request("feedback", "must be a non-empty list")
    if len(items) > max_items:
        raise RequestError(
            [
                Problem(
                    "feedback",
                    f"{len(items)} labels; at most {max_items} per request "
                    "(CONVEYOR_FEEDBACK_MAX_ITEMS): send them in parts",
                )
            ],
            status=413,
        )
    return items, True


def check_labels(items: list[Any], classes: list[Any], batched: bool) -> list[Label]:
    """Every item checked; stops collecting problems after ``MAX_PROBLEMS``."""
    problems: list[Problem] = []
    labels: list[Label] = []
    known = {str(c) for c in classes}
    for i, item in enumerate(items):
        if len(problems) >= MAX_PROBLEMS:
            break
        where = f"feedback[{i}]" if batched else ""
        prefix = f"{where}." if where else ""
        if not isinstance(item, dict):
            problems.append(Problem(where or "body", "must be an object"))
            continue
        rid = item.get("request_id")
        row = item.get("row", 0)
        found = len(problems)
        if not isinstance(rid, str) or not rid or len(rid) > 100:
            problems.append(Problem(f"{prefix}request_id", "must be a string of 1-100 characters"))
        if type(row) is not int or not 0 <= row <= MAX_ROW:
            problems.append(Problem(f"{prefix}row", f"must be an integer from 0 to {MAX_ROW}"))
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
        if len(problems) == found:
            labels.append(Label(i, str(rid), row, label))
    if problems:
        raise RequestError(problems)
    return labels
