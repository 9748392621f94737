"""The inference log: every prediction recorded off the request path, then moved to the store.

Requests serialise their record (orjson) onto a bounded in-memory queue and return. A writer
thread wakes every ``interval_s`` (or when a segment's worth is queued) and writes what is
queued to the spool as one JSON-lines segment (``conveyor.serving.spool``). An ingester
process (``conveyor.serving.ingest``, kept alive by ``conveyor.serving.supervisor``) inserts
segments into the store: the database work never competes with requests for this process's
GIL, and a store that is down delays the log instead of losing it.

Delivery: a record reaches the store exactly once if it reached the spool. Before that it
sits in memory for up to ``interval_s``, and a crash of the process (kill -9) loses it. With
``sync`` on, a request waits until its record is written and fsynced (the requests that
arrive meanwhile share the next write: group commit), so every answered prediction survives
a crash. What cannot be kept is never answered silently: when the spool cannot be written,
is over its size limit or the buffer is full, the policy ``when_full`` either refuses the
prediction (``reject``: 503 with Retry-After, and ``/ready`` says not ready) or drops the
oldest records and counts them (``drop_oldest``). ``stop()`` spools everything queued, then
lets the ingester drain the spool before it returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from conveyor.errors import ServiceUnavailableError
from conveyor.jsonio import dumps
from conveyor.serving.ingest import IngestConfig
from conveyor.serving.lifecycle import WorkerState
from conveyor.serving.spool import Spool, SpoolStats
from conveyor.serving.supervisor import IngesterProcess

if TYPE_CHECKING:
    from conveyor.serving.metrics import ServerMetrics

log = logging.getLogger(__name__)

WhenFull = Literal["reject", "drop_oldest"]
_Item = tuple[bytes, "asyncio.Future[None] | None"]


class LogUnavailableError(ServiceUnavailableError):
    """The inference log cannot keep this prediction's record, so the prediction is not
    answered (``CONVEYOR_INFERENCE_LOG_WHEN_FULL=reject``, or a synchronous write failed)."""

    retry_after = 1


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


def encode(record: Record, max_rows: int = 0) -> bytes:
    """One spool line: header, inputs and outputs as three tab-separated JSON documents, so the
    ingester stores the (large) inputs and outputs as they are, without parsing them. With
    ``max_rows``, a larger request keeps its row count but only its first ``max_rows`` rows."""
    header = {
        "request_id": record.request_id,
        "at": record.at,
        "model": record.model,
        "version": record.version,
        "arm": record.arm,
        "rows": record.rows,
        "latency_ms": record.latency_ms,
        "status": record.status,
    }
    inputs, outputs = record.inputs, record.outputs
    if max_rows and record.rows > max_rows:
        inputs = {k: v[:max_rows] for k, v in inputs.items()}
        outputs = {k: v[:max_rows] for k, v in outputs.items()}
    return b"\t".join((dumps(header), dumps(inputs), dumps(outputs)))


class InferenceLogWriter:
    """Requests append to a deque (no lock, no wake-up unless synchronous); the writer thread
    spools segments, watches the spool's size and keeps the ingester process alive."""

    def __init__(
        self,
        store_url: str,
        spool: Path,
        metrics: ServerMetrics,
        capacity: int,
        batch: int,
        interval_s: float = 0.5,
        retention_days: float = 0.0,
        log_level: str = "INFO",
        log_format: str = "text",
        *,
        sync: bool = False,
        spool_max_bytes: int = 0,
        when_full: WhenFull = "reject",
        max_rows: int = 0,
        feedback_pending_s: float = 600.0,
    ) -> None:
        self.metrics = metrics
        self.capacity = capacity
        self.batch = batch
        self.interval_s = interval_s
        self.sync = sync
        self.spool_max_bytes = spool_max_bytes
        self.when_full = when_full
        self.max_rows = max_rows
        # a random part keeps names unique when the OS reuses a process id
        self.owner = f"{os.getpid()}-{secrets.token_hex(3)}-"
        self.spool = Spool(spool, self.owner, durable=sync)
        self.ingester = IngesterProcess(
            IngestConfig(
                store_url=store_url,
                spool=spool,
                owner=self.owner,
                interval_s=interval_s,
                retention_days=retention_days,
                feedback_pending_s=feedback_pending_s,
                log_level=log_level,
                log_format=log_format,
            ),
            metrics,
        )
        self.state = WorkerState.NEW
        self.stats = SpoolStats()
        self.written = 0
        self.dropped = 0  # answered, then lost: counted, never silent
        self.refused = 0  # not answered because the log could not keep them
        self._pending: collections.deque[_Item] = collections.deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = itertools.count()
        self._spool_error: str | None = None
        self._full = False
        self._refusal: str | None = None  # why submit() refuses now; None: it accepts
        self._next_check = 0.0

    def start(self) -> None:
        self.spool.create()
        self.metrics.log_spool_max_bytes.set(self.spool_max_bytes)
        self.ingester.start()
        self._thread = threading.Thread(
            target=self._run, name="conveyor-inference-log", daemon=True
        )
        self._thread.start()
        self.state = WorkerState.RUNNING

    def stop(self, timeout: float = 60.0) -> None:
        """Spool everything queued, then wait for the ingester to move it into the store."""
        if self._thread is None or self.state is WorkerState.STOPPED:
            return
        self.state = WorkerState.STOPPED
        self._wake.set()
        self._thread.join(timeout)
        if self._pending:
            log.error("inference log: %d records could not be spooled", len(self._pending))
        self.ingester.stop(timeout)

    def health(self) -> dict[str, Any]:
        """What ``/ready`` reports: ``problems`` is empty when the log keeps what it gets."""
        problems = []
        if not self.ingester.up:
            problems.append("the ingester process is down (restarting)")
        if self._spool_error is not None:
            problems.append(f"the spool cannot be written: {self._spool_error}")
        if self._full:
            problems.append(f"the spool is full ({self.stats.bytes} bytes)")
        return {
            "problems": problems,
            "ingester": "up" if self.ingester.up else "down",
            "spool_segments": self.stats.segments,
            "spool_bytes": self.stats.bytes,
            "oldest_segment_s": round(self.stats.oldest_age_s, 1),
        }

    def submit(self, record: Record, wait: bool = False) -> asyncio.Future[None] | None:
        """Queue a record. With ``sync`` on and ``wait``, returns a future that completes once
        the record is durable in the spool: the caller answers after it. Raises
        ``LogUnavailableError`` when the record cannot be kept and nothing may be dropped."""
        if self.state is not WorkerState.RUNNING:
            return None
        if self._refusal is not None:
            self._refuse(self._refusal)
        if len(self._pending) >= self.capacity:
            if self.when_full == "reject" or self.sync:
                self._refuse("the inference-log buffer is full")
            self._pending.popleft()
            self._drop(1, "buffer_full")
        # serialised here, a few microseconds per request: done in the writer thread, a
        # thousand records at once held the GIL in 5 ms slices and showed up in the p99
        line = encode(record, self.max_rows)
        if self.sync and wait:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._pending.append((line, future))
            self._wake.set()
            return future
        self._pending.append((line, None))
        if len(self._pending) >= self.batch:
            self._wake.set()
        return None

    def _refuse(self, reason: str) -> None:
        self.refused += 1
        self.metrics.log_refused.inc()
        raise LogUnavailableError(f"prediction not answered: {reason}")

    def _drop(self, records: int, reason: str) -> None:
        self.dropped += records
        self.metrics.log_dropped.labels(reason).inc(records)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            stopping = self.state is WorkerState.STOPPED
            while self._pending:
                items: list[_Item] = []
                while self._pending and len(items) < self.batch:
                    items.append(self._pending.popleft())
                if not self._write(items):
                    break  # the spool fails: try again next tick
            now = time.monotonic()
            if now >= self._next_check or stopping:
                self._next_check = now + self.interval_s
                try:
                    self._check_spool()
                    if not stopping:
                        self.ingester.tick(now)
                except Exception:  # this thread must outlive anything it meets
                    log.exception("inference log: checking the spool and the ingester failed")
            if stopping:
                return

    def _write(self, items: list[_Item]) -> bool:
        waiters = [future for _, future in items if future is not None]
        try:
            self.spool.write(f"{next(self._seq):010d}", [line for line, _ in items])
        except OSError as exc:
            if self._spool_error is None:
                log.error(
                    "inference log: the spool %s cannot be written: %s", self.spool.directory, exc
                )
            self._spool_error = str(exc)
            self._update_refusal()
            if self.sync:  # their requests answer 503: not answered, so nothing is lost
                self.refused += len(items)
                self.metrics.log_refused.inc(len(items))
                _settle(waiters, f"the inference log cannot be written: {exc}")
            else:  # answered already: keep them in memory until the spool works again
                self._pending.extendleft(reversed(items))
            return False
        if self._spool_error is not None:
            log.warning("inference log: the spool is writable again")
            self._spool_error = None
            self._update_refusal()
        self.written += len(items)
        self.metrics.log_written.inc(len(items))
        _settle(waiters, None)
        return True

    def _check_spool(self) -> None:
        """Size limit, gauges. Runs every ``interval_s`` on the writer thread."""
        stats = self.spool.stats()
        limit = self.spool_max_bytes
        if limit and stats.bytes >= limit:
            if self.when_full == "drop_oldest":
                segments, records = self.spool.drop_oldest(int(limit * 0.9))
                if records:
                    self._drop(records, "spool_full")
                    log.error(
                        "inference-log spool reached its limit of %d bytes: deleted the oldest "
                        "%d segments (%d records) (CONVEYOR_INFERENCE_LOG_WHEN_FULL=drop_oldest)",
                        limit,
                        segments,
                        records,
                    )
                stats = self.spool.stats()
            elif not self._full:
                self._full = True
                log.error(
                    "inference-log spool reached its limit of %d bytes: predictions answer 503 "
                    "until the store takes the backlog (CONVEYOR_INFERENCE_LOG_WHEN_FULL=reject)",
                    limit,
                )
        elif self._full and stats.bytes <= limit * 0.9:
            self._full = False
            log.warning("inference-log spool is below its limit again: answering predictions")
        self._update_refusal()
        self.stats = stats
        self.metrics.log_queue.set(len(self._pending))
        self.metrics.log_spooled.set(stats.segments)
        self.metrics.log_spool_bytes.set(stats.bytes)
        self.metrics.log_spool_oldest.set(stats.oldest_age_s)

    def _update_refusal(self) -> None:
        refusal = None
        if self.when_full == "reject":
            if self._full:
                refusal = "the inference-log spool is full"
            elif self._spool_error is not None:
                refusal = "the inference-log spool cannot be written"
        self._refusal = refusal


def _settle(waiters: list[asyncio.Future[None]], error: str | None) -> None:
    """Complete the futures of requests waiting for a synchronous write, on their loop."""
    if not waiters:
        return
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for future in waiters:
        by_loop.setdefault(future.get_loop(), []).append(future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_complete, futures, error)


def _complete(futures: list[asyncio.Future[None]], error: str | None) -> None:
    for future in futures:
        if future.done():  # the client went away
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(LogUnavailableError(error))
