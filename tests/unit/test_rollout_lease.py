"""The controller's lease on SQLite: one holder at a time, expiry, renewal, release, fencing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor.errors import ServiceUnavailableError
from conveyor.rollout.lease import Lease
from conveyor.store import Store

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    yield opened
    opened.close()


def lease(store: Store, holder: str) -> Lease:
    return Lease(store, "rollout-controller", holder, TTL)


def test_one_holder_until_expiry_then_another(store: Store) -> None:
    a, b = lease(store, "a"), lease(store, "b")
    assert a.acquire(T0)
    assert not b.acquire(T0 + timedelta(seconds=1))
    assert a.acquire(T0 + timedelta(seconds=20))  # ours already: renewed to T0+50
    assert not b.acquire(T0 + timedelta(seconds=45))
    info = b.current(T0 + timedelta(seconds=45))
    assert info is not None
    assert info.holder == "a"
    assert info.expires_at == T0 + timedelta(seconds=50)
    # a stops renewing (crashed, stalled): after expiry b takes over and a cannot renew
    assert b.acquire(T0 + timedelta(seconds=51))
    assert not a.renew(T0 + timedelta(seconds=52))
    assert not a.acquire(T0 + timedelta(seconds=52))
    assert a.current(T0 + timedelta(seconds=52)).holder == "b"  # type: ignore[union-attr]


def test_renew_extends_only_the_holders_lease(store: Store) -> None:
    a, b = lease(store, "a"), lease(store, "b")
    assert not a.renew(T0)  # nothing to renew yet
    assert a.acquire(T0)
    assert a.renew(T0 + timedelta(seconds=25))
    assert not b.acquire(T0 + timedelta(seconds=40))  # a's renewal holds until T0+55
    assert not b.renew(T0 + timedelta(seconds=40))
    assert b.acquire(T0 + timedelta(seconds=56))


def test_release_frees_the_lease_at_once(store: Store) -> None:
    a, b = lease(store, "a"), lease(store, "b")
    assert a.acquire(T0)
    b.release()  # not b's: nothing happens
    assert not b.acquire(T0 + timedelta(seconds=1))
    a.release()
    assert a.current(T0 + timedelta(seconds=1)) is None
    assert b.acquire(T0 + timedelta(seconds=1))


def test_expired_lease_has_no_current_holder(store: Store) -> None:
    a = lease(store, "a")
    assert a.current(T0) is None
    a.acquire(T0)
    assert a.current(T0 + TTL) is not None
    assert a.current(T0 + TTL + timedelta(microseconds=1)) is None


def test_times_in_other_zones_compare_as_utc(store: Store) -> None:
    east = timezone(timedelta(hours=2))
    a, b = lease(store, "a"), lease(store, "b")
    assert a.acquire(T0.astimezone(east))  # 14:00+02:00, expires 12:00:30 UTC
    assert not b.acquire((T0 + timedelta(seconds=10)).astimezone(east))
    assert b.acquire(T0 + timedelta(seconds=31))


def test_racing_candidates_get_one_lease(store: Store) -> None:
    holders = [lease(store, f"h{i}") for i in range(8)]
    barrier = threading.Barrier(len(holders))
    won: list[str] = []

    def race(candidate: Lease) -> None:
        barrier.wait()
        if candidate.acquire(T0):
            won.append(candidate.holder)

    threads = [threading.Thread(target=race, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1
    assert holders[0].current(T0).holder == won[0]  # type: ignore[union-attr]


def test_held_fences_writes_inside_a_transaction(store: Store) -> None:
    a, b = lease(store, "a"), lease(store, "b")
    a.acquire(T0)
    with store.engine.begin() as conn:
        assert a.held(conn, T0 + timedelta(seconds=10))
        assert not b.held(conn, T0 + timedelta(seconds=10))
        assert not a.held(conn, T0 + timedelta(seconds=31))  # expired


def test_unreachable_store_is_a_clear_error(store: Store) -> None:
    a = lease(store, "a")
    working = store._engine
    store._engine = sa.create_engine("postgresql+psycopg://x@127.0.0.1:1/none")
    try:
        with pytest.raises(ServiceUnavailableError, match="lease rollout-controller: the store"):
            a.acquire(T0)
    finally:
        store._engine.dispose()
        store._engine = working
    assert a.acquire(T0)
