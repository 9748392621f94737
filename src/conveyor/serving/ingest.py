"""The inference-log ingester: moves spooled segments into the store, in its own process.

A server process writes its log records as JSON-lines *segments* into a spool directory
(a cheap append, no database work under the GIL that serves requests). This process,
started by the server and fed its configuration as one JSON line on stdin, inserts each
segment in one transaction together with the segment's name in
``inference_log_segments``: a segment is ingested exactly once even when two ingesters
race for it or one dies between committing and deleting the file.

It takes its own server's segments as they appear and adopts other owners' segments once
they are older than ``orphan_after_s`` (left by a server that crashed or a stopped worker
whose ingester could not finish). End of stdin — the server closing it on shutdown, or
dying — means: ingest what is there, then exit. The signals a terminal sends to the whole
process group are ignored, so Ctrl-C on the server cannot cut a final drain short.

Faults of the store never end this process: unreachable (also at start) or read-only, the
segments wait on disk and it retries with a backoff; a SQLite file deleted or replaced under
it is created again (``Store.check``) and a segment whose commit may have gone into the old
file is ingested again into the new one. Anything else it cannot handle ends it, and the
server starts a new one (``conveyor.serving.supervisor``).

Retention: rows older than ``retention_days`` (inference log, feedback, segment names) are
deleted in bounded chunks every ``prune_every_s``.

Held feedback: after each round it moves labels that arrived before their prediction was
logged into ``feedback`` once the prediction is in (``conveyor.store.feedback``), and drops
those held longer than ``feedback_pending_s``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from conveyor.errors import ServiceUnavailableError
from conveyor.serving.spool import SEGMENT_SUFFIX, remove_stale_partials
from conveyor.store.engine import Store
from conveyor.store.errors import StoreUnavailableError, store_errors
from conveyor.store.feedback import adopt_pending
from conveyor.store.tables import feedback, inference_log, inference_log_segments

log = logging.getLogger("conveyor.serving.ingest")

PRUNE_CHUNK = 5_000
REPLACED_RETRIES = 3


@dataclass(frozen=True)
class IngestConfig:
    store_url: str
    spool: Path
    owner: str  # file-name prefix of this server process's segments
    interval_s: float = 0.5
    orphan_after_s: float = 30.0
    retention_days: float = 0.0  # 0 keeps everything
    prune_every_s: float = 600.0
    log_level: str = "INFO"
    log_format: str = "text"
    feedback_pending_s: float = 600.0

    def to_json(self) -> bytes:
        return orjson.dumps({**self.__dict__, "spool": str(self.spool)})

    @classmethod
    def from_json(cls, line: bytes) -> IngestConfig:
        raw = orjson.loads(line)
        return cls(**{**raw, "spool": Path(raw["spool"])})


def pending_segments(config: IngestConfig, final: bool = False) -> list[Path]:
    """This owner's segments, and other owners' once old enough to be orphans."""
    now = time.time()
    found: list[Path] = []
    try:
        entries = list(config.spool.iterdir())
    except (FileNotFoundError, NotADirectoryError):  # deleted: the server creates it again
        return []
    for path in entries:
        if not path.name.endswith(SEGMENT_SUFFIX):
            continue  # .tmp: still being written
        if path.name.startswith(config.owner):
            found.append(path)
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= config.orphan_after_s and not final:
            found.append(path)
    return sorted(found)


def ingest_segment(store: Store, path: Path) -> int:
    """Insert one segment's records (exactly once), then delete the file; returns how many
    this call inserted. The file goes only once its commit is known to be in the store's
    current file (``Store.check`` after the commit)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # a sibling ingester took it
        return 0
    try:
        rows = [_row(line) for line in data.splitlines() if line.strip()]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        bad = path.with_name(path.name + ".bad")
        path.replace(bad)
        log.error("inference-log segment %s is unreadable (%s); kept as %s", path, exc, bad)
        return 0
    for _ in range(REPLACED_RETRIES):
        store.check()
        inserted = _insert(store, path.name, rows)
        if not store.check():
            path.unlink(missing_ok=True)
            return inserted
        log.error("inference-log segment %s ingested again into the new store file", path.name)
    raise ServiceUnavailableError(f"the store file {store.path} keeps being replaced")


def _insert(store: Store, name: str, rows: list[dict[str, Any]]) -> int:
    try:
        with store.engine.begin() as conn:
            conn.execute(
                inference_log_segments.insert().values(
                    name=name, rows=len(rows), at=datetime.now(UTC)
                )
            )
            if rows:
                conn.execute(_raw_insert(conn.dialect.name), rows)
    except sa.exc.IntegrityError:  # ingested before: by a sibling, or before a crash
        return 0
    return len(rows)


def _row(line: bytes) -> dict[str, Any]:
    """A spool line (header, inputs, outputs: tab-separated JSON) → insert parameters; the
    inputs and outputs stay JSON text."""
    head, inputs, outputs = line.split(b"\t", 2)
    header = orjson.loads(head)
    if inputs[:1] != b"{" or outputs[:1] != b"{":
        raise ValueError("inputs and outputs must be JSON objects")
    return {
        "request_id": header["request_id"],
        "at": datetime.fromisoformat(header["at"]),
        "model": header["model"],
        "version": header["version"],
        "arm": header["arm"],
        "rows": header["rows"],
        "latency_ms": header["latency_ms"],
        "status": header["status"],
        "inputs_json": inputs.decode(),
        "outputs_json": outputs.decode(),
    }


def _raw_insert(dialect: str) -> sa.Insert:
    """An insert that takes ``inputs`` and ``outputs`` as JSON text: SQLite stores the text
    as is; PostgreSQL casts it to its JSON type."""

    def raw(name: str) -> sa.ColumnElement[Any]:
        param = sa.bindparam(name, type_=sa.Text)
        return param if dialect == "sqlite" else sa.cast(param, inference_log.c.inputs.type)

    plain = ("request_id", "at", "model", "version", "arm", "rows", "latency_ms", "status")
    values: dict[str, Any] = {c: sa.bindparam(c, type_=inference_log.c[c].type) for c in plain}
    values |= {"inputs": raw("inputs_json"), "outputs": raw("outputs_json")}
    return inference_log.insert().values(values)


def prune(store: Store, retention_days: float, now: datetime | None = None) -> int:
    """Delete rows older than the retention, a chunk per transaction (writers keep going)."""
    if retention_days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    removed = 0
    for table in (inference_log, feedback):
        while True:
            with store.engine.begin() as conn:
                ids = sa.select(table.c.id).where(table.c.at < cutoff).limit(PRUNE_CHUNK)
                count = conn.execute(sa.delete(table).where(table.c.id.in_(ids))).rowcount
            removed += count
            if count < PRUNE_CHUNK:
                break
    with store.engine.begin() as conn:
        conn.execute(sa.delete(inference_log_segments).where(inference_log_segments.c.at < cutoff))
    return removed


class Ingester:
    def __init__(self, config: IngestConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.ingested = 0
        self._last_prune = 0.0

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while True:
            stopping = stop.wait(min(self.config.interval_s * (2**failures), 5.0))
            try:
                with store_errors("inference-log ingest"):
                    self.drain(final=stopping)
                    self.adopt_feedback()
                    self._maybe_prune()
            except ServiceUnavailableError as exc:
                # the store is down or read-only: segments wait on disk; said once per outage
                detail = exc.detail if isinstance(exc, StoreUnavailableError) else exc
                level = logging.DEBUG if failures else logging.WARNING
                log.log(level, "inference-log store unavailable, segments kept: %s", detail)
                failures = min(failures + 1, 6)
            else:
                if failures:
                    log.warning("inference-log store available again: ingesting the backlog")
                failures = 0
            if stopping:
                return

    def drain(self, final: bool = False) -> int:
        count = 0
        for path in pending_segments(self.config, final):
            count += ingest_segment(self.store, path)
        self.ingested += count
        return count

    def adopt_feedback(self) -> int:
        """Held labels whose prediction is now logged join it (the store being down, the next
        round retries)."""
        expired = datetime.now(UTC) - timedelta(seconds=self.config.feedback_pending_s)
        moved = adopt_pending(self.store, expired)  # a store outage is the round's to report
        if moved:
            log.info("%d held feedback labels joined their logged predictions", moved)
        return moved

    def _maybe_prune(self) -> None:
        if self.config.retention_days <= 0:
            return
        if time.monotonic() - self._last_prune < self.config.prune_every_s:
            return
        self._last_prune = time.monotonic()
        removed = prune(self.store, self.config.retention_days)
        if removed:
            log.info("inference-log retention removed %d rows", removed)


def main() -> int:
    # the server decides when this process ends (it closes stdin); a terminal's Ctrl-C or a
    # group-wide SIGTERM must not cut a final drain short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(os, "nice"):  # requests come first; under a burst the log catches up after
        os.nice(10)
    line = sys.stdin.buffer.readline()
    if not line:
        return 0
    config = IngestConfig.from_json(line)
    from conveyor.logs import configure_logging
    from conveyor.settings import LogFormat, Settings

    configure_logging(Settings(log_level=config.log_level, log_format=LogFormat(config.log_format)))
    store = Store(config.store_url).open()  # tables are created once the store answers
    partial = remove_stale_partials(config.spool, config.orphan_after_s)
    if partial:
        log.warning("removed %d partial inference-log segments left by a crash", partial)
    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=wait_for_eof, name="stdin", daemon=True).start()
    try:
        Ingester(config, store).run(stop)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
