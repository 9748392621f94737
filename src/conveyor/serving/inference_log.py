"""The inference log: every prediction written to the store in batches, off the request path.

Requests hand a record to a bounded in-memory queue and return; one writer thread drains it
in batches. A full queue drops the record and counts the drop (the server must not stall
because the database is slow). ``stop()`` flushes everything queued before returning.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conveyor.store.tables import inference_log

if TYPE_CHECKING:
    from conveyor.serving.metrics import ServerMetrics
    from conveyor.store.engine import Store

log = logging.getLogger(__name__)
_STOP = object()


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


class State(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class InferenceLogWriter:
    def __init__(self, store: Store, metrics: ServerMetrics, capacity: int, batch: int) -> None:
        self.store = store
        self.metrics = metrics
        self.capacity = capacity
        self.batch = batch
        self.state = State.NEW
        self._queue: queue.Queue[Any] = queue.Queue(capacity)
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
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def submit(self, record: Record) -> None:
        if self.state is not State.RUNNING:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            self.metrics.log_dropped.inc()
            return
        self.metrics.log_queue.inc()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            items = [item]
            while len(items) < self.batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in items if r is not _STOP]
            stopping = len(records) != len(items)
            if records:
                self._write(records)
            if stopping:
                # drain whatever arrived after the stop marker was queued
                rest = []
                while True:
                    try:
                        extra = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if extra is not _STOP:
                        rest.append(extra)
                if rest:
                    self._write(rest)

    def _write(self, records: list[Record]) -> None:
        rows = [
            {
                "request_id": r.request_id,
                "at": r.at,
                "model": r.model,
                "version": r.version,
                "arm": r.arm,
                "rows": r.rows,
                "inputs": _plain(r.inputs),
                "outputs": _plain(r.outputs),
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
        self.metrics.log_queue.dec(len(records))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """numpy columns to JSON-ready lists (done here, in the writer thread, not per request)."""
    return {k: v.tolist() if hasattr(v, "tolist") else v for k, v in values.items()}
