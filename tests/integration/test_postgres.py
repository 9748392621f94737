"""Conveyor's store on a real PostgreSQL: tables, the audit trail, the CLI end to end, and the
cross-connection lock. Runs when CONVEYOR_TEST_POSTGRES_URL names a server that this test may
create and drop databases on, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor.errors import ServiceUnavailableError
from conveyor.store.audit import AuditEvent, AuditLog
from conveyor.store.engine import Store

pytestmark = pytest.mark.integration

POSTGRES_ENV = "CONVEYOR_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    """The server URL from the environment, or skip the calling test with the reason."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set; PostgreSQL tests need a server to run on")
    return url


@contextlib.contextmanager
def postgres_database(prefix: str = "conveyor_t") -> Iterator[str]:
    """Create a fresh database on the test server, yield its URL, drop it afterwards."""
    admin_url = sa.engine.make_url(postgres_admin_url())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = Store(pg_url).create()
    try:
        yield s
    finally:
        s.close()


def _model() -> str:
    """A model name no other test in this module uses (the database is shared by the module)."""
    return f"m-{uuid.uuid4().hex[:8]}"


@pytest.mark.postgres
def test_create_makes_tables_and_is_idempotent(pg_url: str) -> None:
    first = Store(pg_url).create()
    try:
        tables = set(sa.inspect(first.engine).get_table_names())
        assert {"audit_events", "locks"} <= tables
        assert first.engine.dialect.name == "postgresql"
        assert not first.is_sqlite
    finally:
        first.close()
    again = Store(pg_url).create()  # a second process starting up must not fail
    again.close()


@pytest.mark.postgres
def test_audit_round_trip(store: Store) -> None:
    log = AuditLog(store)
    model = _model()
    before = datetime.now(UTC) - timedelta(seconds=5)
    first = log.record(
        AuditEvent(model, "1", "register", "ci", None, "staging", "gates 5/5", {"run_id": "abc"})
    )
    second = log.record(AuditEvent(model, "1", "promote", "alice", "staging", "production", "ok"))
    log.record(AuditEvent(_model(), "1", "register", "ci"))  # another model's event

    assert first.id is not None and second.id is not None and second.id > first.id
    history = log.history(model)
    assert [(e.action, e.actor, e.from_stage, e.to_stage) for e in history] == [
        ("register", "ci", None, "staging"),
        ("promote", "alice", "staging", "production"),
    ]
    assert history[0].details == {"run_id": "abc"}
    assert history[0].reason == "gates 5/5"
    assert all(e.at is not None and e.at.tzinfo is not None for e in history)
    assert all(
        e.at is not None and before <= e.at <= datetime.now(UTC) + timedelta(seconds=5)
        for e in history
    )
    assert [e.id for e in log.history(model, limit=1)] == [second.id]


@pytest.mark.postgres
def test_lock_serialises_writers(pg_url: str) -> None:
    """The second holder blocks inside PostgreSQL until the first commits, then sees its row."""
    model = _model()
    name = f"model:{model}"
    stores = [Store(pg_url).create(), Store(pg_url).create()]
    order: list[tuple[str, float]] = []
    seen_by_second: list[list[str]] = []
    first_holds = threading.Event()
    release_first = threading.Event()
    second_trying = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with stores[0].locked(name) as conn:
                order.append(("first acquired", time.monotonic()))
                AuditLog(stores[0]).record(AuditEvent(model, "1", "first", "t1"), conn)
                first_holds.set()
                assert release_first.wait(timeout=30)
                order.append(("first committing", time.monotonic()))
        except BaseException as exc:
            errors.append(exc)
            first_holds.set()

    def second() -> None:
        try:
            assert first_holds.wait(timeout=30)
            second_trying.set()
            with stores[1].locked(name) as conn:
                order.append(("second acquired", time.monotonic()))
                seen = AuditLog(stores[1]).history(model, conn=conn)
                seen_by_second.append([e.action for e in seen])
                AuditLog(stores[1]).record(AuditEvent(model, "1", "second", "t2"), conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    try:
        for t in threads:
            t.start()
        assert second_trying.wait(timeout=30)
        # the second connection must be seen waiting on a lock inside PostgreSQL
        waiting = _wait_for_lock_waiter(stores[0], deadline_s=15)
        assert waiting, "the second locker never blocked on the first one's row lock"
        assert [label for label, _ in order] == ["first acquired"]
        release_first.set()
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive()
    finally:
        release_first.set()
        for s in stores:
            s.close()
    assert not errors, errors
    labels = [label for label, _ in order]
    assert labels == ["first acquired", "first committing", "second acquired"]
    stamps = dict(order)
    assert stamps["second acquired"] >= stamps["first committing"]
    assert seen_by_second == [["first"]]  # the first holder's write was committed and visible


def _wait_for_lock_waiter(store: Store, deadline_s: float) -> bool:
    """Poll pg_stat_activity (bounded) for a backend of this database waiting on a lock."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + deadline_s
    stop = threading.Event()
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            if conn.execute(query).scalar_one() > 0:
                return True
        stop.wait(0.05)
    return False


@pytest.mark.postgres
def test_lock_on_a_new_name_from_many_threads(pg_url: str) -> None:
    """First use of a lock name from several connections at once: no duplicate-key error,
    and the critical sections never overlap."""
    model = _model()
    stores = [Store(pg_url).create() for _ in range(4)]
    inside = 0
    max_inside = 0
    guard = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def work(s: Store) -> None:
        nonlocal inside, max_inside
        try:
            start.wait(timeout=30)
            for _ in range(3):
                with s.locked(f"model:{model}") as conn:
                    with guard:
                        inside += 1
                        max_inside = max(max_inside, inside)
                    count = len(AuditLog(s).history(model, conn=conn))
                    AuditLog(s).record(AuditEvent(model, str(count + 1), "tick", "t"), conn)
                    with guard:
                        inside -= 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive()
    finally:
        for s in stores:
            s.close()
    assert not errors, errors
    assert max_inside == 1
    check = Store(pg_url).create()
    try:
        versions = [e.version for e in AuditLog(check).history(model)]
        # read-count-then-write under the lock: no two writers saw the same count
        assert versions == [str(i) for i in range(1, 13)]
    finally:
        check.close()


def _create_at_once(url: str, count: int) -> list[BaseException]:
    """``count`` threads, each with its own engine, call ``Store.create()`` together."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []
    opened: list[Store] = []

    def open_store() -> None:
        try:
            start.wait(timeout=30)
            opened.append(Store(url).create())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    for s in opened:
        s.close()
    assert len(opened) + len(errors) == count
    return errors


@pytest.mark.postgres
def test_first_create_from_many_connections_at_once() -> None:
    """Several connections (as from processes starting together) on an empty database all
    create or find the tables."""
    with postgres_database() as url:
        for _round in range(3):  # each round on an empty schema: the race is timing-dependent
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("DROP TABLE IF EXISTS audit_events, locks")
            finally:
                engine.dispose()  # its pooled connection closed now, not by the collector
            errors = _create_at_once(url, count=4)
            assert not errors, errors


@pytest.mark.postgres
def test_run_promote_rollback_with_postgres_store(
    cli: Callable,
    wine_project: Callable,
    home: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONVEYOR_STORE_URL", pg_url)
    project = wine_project()
    first = cli("run", "--project", str(project), "--json")
    assert first.exit_code == 0, first.stderr + first.stdout
    assert first.json()["registered_version"] == "1"
    assert cli("promote", "wine", "1", "--to", "production", "--reason", "first").exit_code == 0
    second = cli("run", "--project", str(project), "--json")
    assert second.exit_code == 0, second.stderr + second.stdout
    assert second.json()["registered_version"] == "2"
    assert cli("promote", "wine", "2", "--reason", "better").exit_code == 0
    rolled = cli("rollback", "wine", "--reason", "regression", "--json")
    assert rolled.exit_code == 0, rolled.stderr
    assert rolled.json()["version"] == "1"
    assert cli("models", "show", "wine", "2", "--json").json()["stage"] == "rejected"
    assert cli("models", "show", "wine", "1", "--json").json()["aliases"] == ["production"]

    history = cli("models", "history", "wine", "--json").json()
    actions = [(e["version"], e["action"], e["from_stage"], e["to_stage"]) for e in history]
    assert actions == [
        ("1", "register", None, "staging"),
        ("1", "promote", "staging", "production"),
        ("2", "register", None, "staging"),
        ("2", "promote", "staging", "production"),
        ("1", "promote", "production", "archived"),
        ("1", "rollback", "archived", "production"),
        ("2", "rollback", "production", "rejected"),
    ]
    # the trail lives in PostgreSQL, not in a SQLite file under the home
    assert not (home / "conveyor.db").exists()
    direct = Store(pg_url).create()
    try:
        stored = AuditLog(direct).history("wine")
    finally:
        direct.close()
    assert [(e.version, e.action) for e in stored] == [(a[0], a[1]) for a in actions]
    assert all(e.actor for e in stored)


def test_unreachable_postgres_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://conveyor:secret@127.0.0.1:{port}/nothing"
    start = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as caught:
        Store(url).create()
    assert time.monotonic() - start < 15
    assert "unreachable" in caught.value.message
    assert "secret" not in caught.value.message  # the password is never printed


@pytest.mark.postgres
def test_inference_log_spool_reaches_postgres(store: Store, tmp_path: Path) -> None:
    import numpy as np

    from conveyor.serving.inference_log import InferenceLogWriter, Record
    from conveyor.serving.metrics import ServerMetrics
    from conveyor.store.tables import inference_log

    writer = InferenceLogWriter(store.url, tmp_path / "spool", ServerMetrics(), 1000, 4)
    writer.start()
    model = _model()
    for i in range(10):
        writer.submit(
            Record(
                f"{model}-{i}",
                datetime.now(UTC),
                model,
                "3",
                "candidate",
                2,
                {"alcohol": np.array([13.0, float(i)]), "color": np.array(["red", "w\t\n"])},
                {"predictions": np.array([1, 2]), "probabilities": np.eye(2, 3)},
                0.8,
                200,
            )
        )
    writer.stop()
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(inference_log).where(inference_log.c.model == model)
        ).mappings()
        by_id = {r["request_id"]: r for r in rows}
        kind = conn.exec_driver_sql(
            "select json_typeof(inputs) from inference_log where model = %(m)s limit 1",
            {"m": model},
        ).scalar()
    assert len(by_id) == 10
    row = by_id[f"{model}-7"]
    assert row["inputs"] == {"alcohol": [13.0, 7.0], "color": ["red", "w\t\n"]}
    assert row["outputs"]["probabilities"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert row["arm"] == "candidate" and row["rows"] == 2 and row["at"].tzinfo is not None
    assert kind == "object"  # stored as JSON, not as a JSON string


@pytest.mark.postgres
def test_live_monitor_and_alerts_on_postgres(store: Store) -> None:
    """Two processes' per-minute buckets upsert and merge; the alert book opens and resolves
    an alert once, on PostgreSQL's dialect (JSON counts, row locks)."""
    import numpy as np

    from conveyor.monitoring.alerts import AlertBook, Check
    from conveyor.monitoring.live import LiveMonitor, load_window
    from conveyor.monitoring.samples import CategoryCounts

    profile = {
        "rows": 4,
        "features": {
            "x": {"kind": "numeric", "bin_edges": [0.0, 1.0, 2.0], "bin_counts": [2, 2]},
            "c": {"kind": "categorical", "category_counts": {"a": 3, "b": 1}},
        },
    }
    first, second = LiveMonitor(store), LiveMonitor(store)
    for monitor, values in ((first, [0.5, 1.5, 3.0]), (second, [0.2])):
        for value in values:
            columns = {"x": np.array([value]), "c": np.array(["a"])}
            monitor.observe("pg-model", "1", profile, columns, None, 4.0, 200)
        monitor.observe("pg-model", "1", profile, None, None, 1.0, 500)
        monitor.flush()
    first.observe(
        "pg-model", "1", profile, {"x": np.array([1.0]), "c": np.array(["z"])}, None, 4.0, 200
    )
    first.flush()  # the same minute: first's row is updated
    bucket, merged = load_window(store, "pg-model", "1", profile, minutes=5)
    assert merged == 2
    assert (bucket.window.rows, bucket.requests, bucket.server_errors) == (5, 7, 2)
    categories = bucket.window.samples()["c"]
    assert isinstance(categories, CategoryCounts) and categories.unseen == 1
    book = AlertBook(store)
    firing = Check("error_rate", "critical", True, 2 / 7, 0.01, "2 of 7")
    assert [t.event for t in book.apply("pg-model", "1", [firing])] == ["alert.firing"]
    assert book.apply("pg-model", "1", [firing]) == []
    healthy = Check("error_rate", "critical", False, 0.0, 0.01, "0 of 7")
    assert [t.event for t in book.apply("pg-model", "1", [healthy])] == ["alert.resolved"]
    assert book.list("pg-model") == []
