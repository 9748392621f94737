from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.errors import ServiceUnavailableError
from conveyor.store import AuditEvent, AuditLog, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'conveyor.db'}").create()
    yield opened
    opened.close()


def test_engine_before_create_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"Store.create\(\) was not called"):
        _ = Store("sqlite:///:memory:").engine


def test_create_makes_the_directory_and_is_repeatable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'store.db'}"
    first = Store(url).create()
    AuditLog(first).record(AuditEvent("m", "1", "register", "ci"))
    first.close()
    assert (tmp_path / "a" / "b" / "store.db").is_file()
    second = Store(url).create()  # tables exist already; nothing is lost
    assert [e.action for e in AuditLog(second).history("m")] == ["register"]
    second.close()


def test_record_returns_the_stored_event(store: Store) -> None:
    before = datetime.now(UTC)
    event = AuditLog(store).record(
        AuditEvent("wine", "2", "promote", "alice", "staging", "production", "better", {"k": 1})
    )
    assert event.id is not None
    assert event.at is not None and before <= event.at <= datetime.now(UTC)
    assert (event.model, event.version, event.action, event.actor) == (
        "wine",
        "2",
        "promote",
        "alice",
    )
    assert (event.from_stage, event.to_stage, event.reason, event.details) == (
        "staging",
        "production",
        "better",
        {"k": 1},
    )


def test_history_round_trips_every_field(store: Store) -> None:
    audit = AuditLog(store)
    at = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    audit.record(
        AuditEvent(
            "wine",
            "1",
            "rollback",
            "bob",
            "production",
            "rejected",
            "regression",
            {"replaced_by": "2", "nested": {"a": [1, 2]}},
            at=at,
        )
    )
    (event,) = audit.history("wine")
    assert event.at == at
    assert event.at.tzinfo is not None
    assert event.to_dict() == {
        "id": event.id,
        "at": "2024-05-01T12:30:00+00:00",
        "model": "wine",
        "version": "1",
        "action": "rollback",
        "from_stage": "production",
        "to_stage": "rejected",
        "actor": "bob",
        "reason": "regression",
        "details": {"replaced_by": "2", "nested": {"a": [1, 2]}},
    }


def test_defaults_for_optional_fields(store: Store) -> None:
    audit = AuditLog(store)
    audit.record(AuditEvent("wine", None, "note", "ci"))
    (event,) = audit.history("wine")
    assert (event.version, event.from_stage, event.to_stage) == (None, None, None)
    assert (event.reason, event.details) == ("", {})


def test_history_is_oldest_first_and_per_model(store: Store) -> None:
    audit = AuditLog(store)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i, (model, action) in enumerate(
        [("wine", "register"), ("iris", "register"), ("wine", "approve"), ("wine", "promote")]
    ):
        audit.record(AuditEvent(model, "1", action, "ci", at=start + timedelta(minutes=i)))
    wine = audit.history("wine")
    assert [e.action for e in wine] == ["register", "approve", "promote"]
    assert [e.id for e in wine] == sorted(e.id for e in wine if e.id is not None)
    assert [e.action for e in audit.history("iris")] == ["register"]
    assert audit.history("nope") == []


def test_order_follows_insertion_not_the_timestamp(store: Store) -> None:
    audit = AuditLog(store)
    now = datetime.now(UTC)
    audit.record(AuditEvent("wine", "1", "first", "ci", at=now))
    audit.record(AuditEvent("wine", "1", "second", "ci", at=now - timedelta(days=1)))
    assert [e.action for e in audit.history("wine")] == ["first", "second"]


def test_history_limit_keeps_the_newest_oldest_first(store: Store) -> None:
    audit = AuditLog(store)
    for i in range(5):
        audit.record(AuditEvent("wine", str(i), f"event{i}", "ci"))
    assert [e.action for e in audit.history("wine", limit=2)] == ["event3", "event4"]
    assert len(audit.history("wine", limit=100)) == 5


def test_record_inside_a_lock_commits_with_it(store: Store) -> None:
    audit = AuditLog(store)
    with store.locked("model:wine") as conn:
        audit.record(AuditEvent("wine", "1", "promote", "ci"), conn)
        assert [e.action for e in audit.history("wine", conn=conn)] == ["promote"]
    assert [e.action for e in audit.history("wine")] == ["promote"]


def test_a_failed_transaction_records_nothing(store: Store) -> None:
    audit = AuditLog(store)
    with pytest.raises(KeyError), store.locked("model:wine") as conn:
        audit.record(AuditEvent("wine", "1", "promote", "ci"), conn)
        raise KeyError("boom")
    assert audit.history("wine") == []


def test_unreachable_postgres_is_service_unavailable_quickly() -> None:
    start = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as err:
        Store("postgresql+psycopg://x:s3cret@127.0.0.1:1/none").create()
    assert time.monotonic() - start < 10
    assert err.value.exit_code == 1
    assert "is unreachable" in err.value.message
    assert "127.0.0.1:1/none" in err.value.message
    assert "s3cret" not in err.value.message  # the password is masked
