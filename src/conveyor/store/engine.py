"""The store's engine: SQLite (WAL, busy timeout) by default, PostgreSQL when shared."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from conveyor.errors import ServiceUnavailableError
from conveyor.jsonio import dumps
from conveyor.store.errors import store_errors
from conveyor.store.tables import locks, metadata

_CREATE_LOCK_KEY = 0x636F6E76_65796F72  # "conveyor": the advisory lock around table creation


class Store:
    """Owns the engine; call ``create()`` once per process before use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("Store.create() was not called")
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def create(self) -> Store:
        """Open the engine and create missing tables; unreachable databases raise clearly."""
        kwargs: dict[str, Any] = {"future": True, "json_serializer": _json_dumps}
        if self.is_sqlite:
            path = self.url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            # take the write lock at BEGIN, so concurrent writers queue instead of failing
            sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    # processes starting together on an empty database would race to create
                    # the tables ("duplicate key ... pg_type"); the DDL is transactional, so
                    # the others wait here, then find the tables
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CREATE_LOCK_KEY)))
                metadata.create_all(conn, checkfirst=True)
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise ServiceUnavailableError(
                f"store {_safe_url(self.url)} is unreachable: {exc.orig}"
            ) from None
        self._engine = engine
        return self

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes; WAL keeps it consistent
    cur.close()


def _json_dumps(value: Any) -> str:
    """JSON columns via orjson; numpy arrays (inference-log columns) serialise natively."""
    return dumps(value).decode()


def _safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)
