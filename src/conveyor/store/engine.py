"""The store's engine: SQLite (WAL, busy timeout) by default, PostgreSQL when shared.

A long-running process (the server, the inference-log ingester) must outlive faults of the
store that a command can simply report: the database unreachable when it starts, a SQLite
file opened read-only, the file deleted while open. ``Store.open()`` builds the engine
without touching the database, and ``Store.check()`` — called by those processes before
they rely on the store — creates the tables once the database answers, and notices a SQLite
file that was deleted or replaced under its open connections (they would keep writing into
the unlinked file: acknowledged rows would vanish without an error) and opens the store at
its path again. Commands keep ``Store.create()``: open and create the tables, or fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from conveyor.display import mask_urls, safe_url
from conveyor.errors import ServiceUnavailableError
from conveyor.jsonio import dumps
from conveyor.store.errors import store_errors
from conveyor.store.tables import locks, metadata

log = logging.getLogger(__name__)

_CREATE_LOCK_KEY = 0x636F6E76_65796F72  # "conveyor": the advisory lock around table creation
_SQLITE_READONLY = 8  # primary result code of "attempt to write a readonly database"


class Store:
    """Owns the engine; call ``create()`` (commands) or ``open()`` + ``check()`` (long-running
    processes) once per process before use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.replacements = 0  # times the SQLite file was found deleted or replaced
        self.recreating = False  # found so, and not yet created again
        self._engine: Engine | None = None
        self._schema = False
        self._file_id: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("Store.create() was not called")
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def path(self) -> Path | None:
        """The SQLite database file; None for an in-memory database or another backend."""
        if not self.is_sqlite:
            return None
        database = sa.engine.make_url(self.url).database
        return Path(database) if database and database != ":memory:" else None

    def create(self) -> Store:
        """Open the engine and create missing tables; unreachable databases raise clearly."""
        self.open()
        try:
            self.ensure_schema()
        except ServiceUnavailableError:
            self.close()
            raise
        return self

    def open(self) -> Store:
        """Build the engine without connecting: a process can start while the database is
        down and call ``check()`` until it answers."""
        if self._engine is not None:
            return self
        kwargs: dict[str, Any] = {"future": True, "json_serializer": _json_dumps}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            if self.url.startswith("postgresql"):  # a black-holed address must not hang us
                kwargs["connect_args"] = {"connect_timeout": 10}
        engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            # take the write lock at BEGIN, so concurrent writers queue instead of failing;
            # a reading() transaction begins deferred: in WAL it never waits for a writer
            sa.event.listen(engine, "begin", _begin)
            sa.event.listen(engine, "handle_error", _drop_readonly_connections)
            path = self.path
            if path is not None:
                _reopen_when_writable(engine, path)
        self._engine = engine
        return self

    def ensure_schema(self) -> None:
        """Create missing tables (idempotent); ``ServiceUnavailableError`` when unreachable."""
        engine = self.engine
        path = self.path
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    # processes starting together on an empty database would race to create
                    # the tables ("duplicate key ... pg_type"); the DDL is transactional, so
                    # the others wait here, then find the tables
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CREATE_LOCK_KEY)))
                metadata.create_all(conn, checkfirst=True)
        except (sa.exc.OperationalError, OSError) as exc:
            raise ServiceUnavailableError(
                f"store {safe_url(self.url)} is unreachable: "
                f"{mask_urls(str(getattr(exc, 'orig', exc)))}"
            ) from None
        self._file_id = _file_id(path) if path is not None else None
        self._schema = True

    def check(self) -> bool:
        """Make the store usable again after a fault; True when it had to be opened anew.

        Creates the tables if that has not succeeded yet, and, for a SQLite file, compares
        the file at the path with the one the connections opened: deleted or replaced, every
        pooled connection is dropped (logged at ERROR) and the store is created again at its
        path. Writes committed since the previous ``check()`` may then have gone to the old
        file: callers that must not lose them verify after committing. Raises
        ``ServiceUnavailableError`` while the database cannot be reached.
        """
        with self._lock:
            self.open()
            path = self.path
            if self._schema and path is not None and _file_id(path) != self._file_id:
                log.error(
                    "store file %s was deleted or replaced while in use; creating the store "
                    "again at that path (rows written to the old file since the last check "
                    "went with it)",
                    path,
                )
                self.replacements += 1
                self.engine.dispose()  # pooled connections still point at the old file
                self._schema = False
                self.recreating = True
            if self._schema:
                return False
            self.ensure_schema()
            recreated, self.recreating = self.recreating, False
            return recreated

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._schema = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only. On SQLite its transaction begins deferred, so it reads
        the last committed state while a writer holds the lock (a promotion moving aliases in
        MLflow, the ingester's batch) instead of queueing behind it."""
        with self.engine.connect() as conn:
            conn.info[_READING] = True
            try:
                yield conn
            finally:
                conn.info.pop(_READING, None)

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[Connection]:
        """A transaction holding an exclusive, cross-process lock named ``name``.

        SQLite: BEGIN IMMEDIATE serialises writers. PostgreSQL: a row lock on ``locks``.
        A store that fails meanwhile raises ``StoreUnavailableError``.
        """
        with store_errors(f"lock {name}"), self.engine.begin() as conn:
            if not self.is_sqlite:
                holder = f"{socket.gethostname()}:{os.getpid()}"
                insert = postgresql.insert(locks).values(name=name, holder=holder)
                conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
                conn.execute(sa.select(locks.c.name).where(locks.c.name == name).with_for_update())
            yield conn


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


_READING = "conveyor.reading"


def _begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.info.get(_READING) else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes; WAL keeps it consistent
    cur.close()


def _reopen_when_writable(engine: Engine, path: Path) -> None:
    """SQLite opens a file it may not write read-only, and the connection stays so. Such a
    connection is marked when it opens and replaced when it is next taken from the pool once
    the file is writable again, so no write fails after the fault is gone."""

    def opened(_dbapi_conn: Any, record: Any) -> None:
        record.info["read_only"] = path.exists() and not os.access(path, os.W_OK)

    def taken(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("read_only") and os.access(path, os.W_OK):
            raise sa.exc.DisconnectionError("the store file is writable again")

    sa.event.listen(engine, "connect", opened)
    sa.event.listen(engine, "checkout", taken)


def _drop_readonly_connections(context: sa.engine.ExceptionContext) -> None:
    """A write refused as read-only (the file, its directory or its journal) counts as a
    disconnect: the pool replaces its connections, which reopen the file, instead of keeping
    ones that would fail every write long after the cause is gone."""
    code = getattr(context.original_exception, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == _SQLITE_READONLY:
        context.is_disconnect = True


def _json_dumps(value: Any) -> str:
    """JSON columns via orjson; numpy arrays (inference-log columns) serialise natively."""
    return dumps(value).decode()
