"""The store's one error boundary: a store that fails for real (its directory gone, its file
not a database) is "unavailable" — a 503 with Retry-After, never a 500 or an empty answer —
wherever it is touched; errors that mean something else pass through."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from conveyor.errors import ServiceUnavailableError
from conveyor.monitoring.alerts import AlertBook, Check
from conveyor.monitoring.assess import labelled_predictions
from conveyor.monitoring.live import LiveMonitor, bucket_rows
from conveyor.rollout import errors as rollout_errors
from conveyor.store.audit import AuditEvent, AuditLog
from conveyor.store.engine import Store
from conveyor.store.errors import StoreUnavailableError, store_errors
from conveyor.store.tables import locks


def broken_store(tmp_path: Path, fault: str) -> Store:
    """A store that worked, then failed: its directory removed, or its file overwritten."""
    directory = tmp_path / "store"
    store = Store(f"sqlite:///{directory / 'conveyor.db'}").create()
    store.engine.dispose()  # pooled connections would keep using the old file
    if fault == "gone":
        shutil.rmtree(directory)
    else:
        for path in directory.iterdir():
            path.unlink()
        (directory / "conveyor.db").write_bytes(b"not a database " * 512)
    return store


@pytest.mark.parametrize("fault", ["gone", "garbage"])
def test_a_failing_store_is_unavailable_with_a_retry_hint(tmp_path: Path, fault: str) -> None:
    store = broken_store(tmp_path, fault)
    with (
        pytest.raises(StoreUnavailableError) as caught,
        store_errors("read something"),
        store.engine.connect() as conn,
    ):
        conn.execute(sa.select(locks))
    error = caught.value
    assert isinstance(error, ServiceUnavailableError)
    assert error.http_status == 503 and error.exit_code == 1 and error.retry_after > 0
    assert error.message.startswith("read something: the store is unreachable (")
    assert "\n" not in error.message


def test_an_integrity_error_is_the_callers_to_decide(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    with store.engine.begin() as conn:
        conn.execute(locks.insert().values(name="x", holder="a"))
    with (
        pytest.raises(sa.exc.IntegrityError),
        store_errors("insert twice"),
        store.engine.begin() as conn,
    ):
        conn.execute(locks.insert().values(name="x", holder="b"))


def test_rollout_modules_use_the_same_boundary() -> None:
    assert rollout_errors.store_errors is store_errors


def _audit_record(store: Store) -> Any:
    return AuditLog(store).record(AuditEvent("wine", "1", "promote", "bob"))


def _alerts_apply(store: Store) -> Any:
    check = Check("error_rate", "critical", True, 0.5, 0.01, "too many errors")
    return AlertBook(store).apply("wine", "1", [check], datetime.now(UTC))


def _labelled(store: Store) -> Any:
    bundle = SimpleNamespace(identity=SimpleNamespace(name="wine", version="1"))
    return list(labelled_predictions(store, bundle, datetime.now(UTC)))  # type: ignore[arg-type]


def _live_flush(store: Store) -> Any:
    live = LiveMonitor(store)
    live.observe_request("wine", "1", {"features": {}}, 3.0, 200)
    return live.flush()


CALL_SITES: dict[str, Callable[[Store], Any]] = {
    "audit record": _audit_record,
    "audit history": lambda s: AuditLog(s).history("wine"),
    "alerts apply": _alerts_apply,
    "alerts list": lambda s: AlertBook(s).list("wine"),
    "feedback join": _labelled,
    "live flush": _live_flush,
    "live read": lambda s: list(bucket_rows(s, "wine", "1", None)),
    "store lock": lambda s: s.locked("model:wine").__enter__(),
}


@pytest.mark.parametrize("site", sorted(CALL_SITES))
def test_every_store_access_outside_rollouts_goes_through_the_boundary(
    tmp_path: Path, site: str
) -> None:
    store = broken_store(tmp_path, "gone")
    with pytest.raises(StoreUnavailableError):
        CALL_SITES[site](store)
