"""The inference log: every prediction written to the store in batches, off the request path.

Requests hand a record to a bounded in-memory queue and return; one writer thread drains it
in batches (numpy columns are serialised there, by the store's orjson serializer). A full queue drops the record and counts the drop (the server must not stall
because the database is slow). ``stop()`` flushes everything queued before returning.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.serving.lifecycle import State
from conveyor.store.tables import inference_log

if TYPE_CHECKING:
    from conveyor.serving.metrics import ServerMetrics
    from conveyor.store.engine import Store

log = logging.getLogger(__name__)


@dataclass
class Record:
    request_id: str
    at: datetime
    model: str
    version: str
    arm: str
    rows: int
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    latency_ms: float
    status: int


class InferenceLogWriter:
    """Requests append to a deque (no lock, no wake-up); the writer thread wakes every
    ``interval_s`` (or when a batch is full) and writes what is queued in batches."""

    def __init__(
        self,
        store: Store,
        metrics: ServerMetrics,
        capacity: int,
        batch: int,
        interval_s: float = 0.5,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.capacity = capacity
        self.batch = batch
        self.interval_s = interval_s
        self.state = State.NEW
        self._pending: collections.deque[Record] = collections.deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="conveyor-inference-log", daemon=True
        )
        self._thread.start()
        self.state = State.RUNNING

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer thread."""
        if self._thread is None or self.state is State.STOPPED:
            return
        self.state = State.STOPPED
        self._wake.set()
        self._thread.join(timeout)

    def submit(self, record: Record) -> None:
        if self.state is not State.RUNNING:
            return
        if len(self._pending) >= self.capacity:
            self.dropped += 1
            self.metrics.log_dropped.inc()
            return
        self._pending.append(record)
        if len(self._pending) >= self.batch:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            stopping = self.state is State.STOPPED
            while self._pending:
                records: list[Record] = []
                while self._pending and len(records) < self.batch:
                    records.append(self._pending.popleft())
                self._write(records)
            self.metrics.log_queue.set(len(self._pending))
            if stopping:
                return

    def _write(self, records: list[Record]) -> None:
        rows = [
            {
                "request_id": r.request_id,
                "at": r.at,
                "model": r.model,
                "version": r.version,
                "arm": r.arm,
                "rows": r.rows,
                "inputs": r.inputs,
                "outputs": r.outputs,
                "latency_ms": r.latency_ms,
                "status": r.status,
            }
            for r in records
        ]
        try:
            with self.store.engine.begin() as conn:
                conn.execute(inference_log.insert(), rows)
        except Exception:  # the database is down: count the loss, keep serving
            log.exception("inference log write of %d records failed", len(rows))
            self.dropped += len(rows)
            self.metrics.log_dropped.inc(len(rows))
        else:
            self.written += len(rows)
            self.metrics.log_written.inc(len(rows))
