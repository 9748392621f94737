"""The inference log: every prediction recorded off the request path, then moved to the store.

Requests serialise their record (orjson) onto a bounded in-memory queue and return. A writer
thread wakes every ``interval_s`` (or when a segment's worth is queued) and writes what is
queued to the spool as one JSON-lines segment (to ``.tmp``, then renamed: a segment is whole
or absent). An ingester process (``conveyor.serving.ingest``) inserts segments into the store:
the database work — SQLAlchemy, the driver, JSON columns — never competes with requests for
this process's GIL, and a store that is down delays the log instead of losing it.

A full queue drops the record and counts the drop (the server must not stall). ``stop()``
spools everything queued, then lets the ingester drain the spool before it returns.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.jsonio import dumps
from conveyor.serving.ingest import SEGMENT_SUFFIX, IngestConfig
from conveyor.serving.lifecycle import State

if TYPE_CHECKING:
    from conveyor.serving.metrics import ServerMetrics

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


def encode(record: Record) -> bytes:
    """One spool line: header, inputs and outputs as three tab-separated JSON documents, so the
    ingester stores the (large) inputs and outputs as they are, without parsing them."""
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
    return b"\t".join((dumps(header), dumps(record.inputs), dumps(record.outputs)))


class InferenceLogWriter:
    """Requests append to a deque (no lock, no wake-up); the writer thread spools segments and
    an ingester child process moves them into the store."""

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
        feedback_pending_s: float = 600.0,
    ) -> None:
        self.spool = spool
        self.metrics = metrics
        self.capacity = capacity
        self.batch = batch
        self.interval_s = interval_s
        # a random part keeps names unique when the OS reuses a process id
        self.owner = f"{os.getpid()}-{secrets.token_hex(3)}-"
        self.ingest_config = IngestConfig(
            store_url=store_url,
            spool=spool,
            owner=self.owner,
            interval_s=interval_s,
            retention_days=retention_days,
            feedback_pending_s=feedback_pending_s,
            log_level=log_level,
            log_format=log_format,
        )
        self.state = State.NEW
        self._pending: collections.deque[bytes] = collections.deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._ingester: subprocess.Popen[bytes] | None = None
        self._seq = itertools.count()
        self.written = 0
        self.dropped = 0

    def start(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        self._ingester = subprocess.Popen(
            [sys.executable, "-m", "conveyor.serving.ingest"], stdin=subprocess.PIPE
        )
        assert self._ingester.stdin is not None
        self._ingester.stdin.write(self.ingest_config.to_json() + b"\n")
        self._ingester.stdin.flush()
        self._thread = threading.Thread(
            target=self._run, name="conveyor-inference-log", daemon=True
        )
        self._thread.start()
        self.state = State.RUNNING

    def stop(self, timeout: float = 60.0) -> None:
        """Spool everything queued, then wait for the ingester to move it into the store."""
        if self._thread is None or self.state is State.STOPPED:
            return
        self.state = State.STOPPED
        self._wake.set()
        self._thread.join(timeout)
        ingester = self._ingester
        if ingester is not None and ingester.stdin is not None:
            ingester.stdin.close()  # end of input: drain and exit
            try:
                ingester.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("inference-log ingester still busy after %.0f s; left running", timeout)

    def submit(self, record: Record) -> None:
        if self.state is not State.RUNNING:
            return
        if len(self._pending) >= self.capacity:
            self.dropped += 1
            self.metrics.log_dropped.inc()
            return
        # serialised here, a few microseconds per request: done in the writer thread, a
        # thousand records at once held the GIL in 5 ms slices and showed up in the p99
        self._pending.append(encode(record))
        if len(self._pending) >= self.batch:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            stopping = self.state is State.STOPPED
            while self._pending:
                records: list[bytes] = []
                while self._pending and len(records) < self.batch:
                    records.append(self._pending.popleft())
                self._write(records)
            self.metrics.log_queue.set(len(self._pending))
            self.metrics.log_spooled.set(self.spooled_segments())
            if stopping:
                return

    def spooled_segments(self) -> int:
        try:
            return sum(1 for e in os.scandir(self.spool) if e.name.endswith(SEGMENT_SUFFIX))
        except FileNotFoundError:
            return 0

    def _write(self, records: list[bytes]) -> None:
        name = f"{self.owner}{next(self._seq):010d}{SEGMENT_SUFFIX}"
        path = self.spool / name
        tmp = path.with_name(name + ".tmp")
        try:
            tmp.write_bytes(b"\n".join(records) + b"\n")
            tmp.replace(path)
        except Exception:  # a full or read-only disk: count the loss, keep serving
            log.exception("inference log: spooling %d records failed", len(records))
            tmp.unlink(missing_ok=True)
            self.dropped += len(records)
            self.metrics.log_dropped.inc(len(records))
        else:
            self.written += len(records)
            self.metrics.log_written.inc(len(records))
