"""The rollout controller's store on a real PostgreSQL: the lease (two holders, expiry, a race
of many), one active rollout per model (also when starts race) and compare-and-set transitions. Runs when CONVEYOR_TEST_POSTGRES_URL is set (see
tests/integration/test_postgres.py); skipped otherwise."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.rollout.errors import RolloutConflictError
from conveyor.rollout.lease import Lease
from conveyor.rollout.records import RevisionConflict, RolloutRecords
from conveyor.rollout.state import Rollout, RolloutState
from conveyor.spec.models import RolloutSpec
from conveyor.store.engine import Store
from tests.integration.test_postgres import postgres_database

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database("conveyor_rollout") as url:
        yield url


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    opened = Store(pg_url).create()
    try:
        yield opened
    finally:
        opened.close()


def lease_name() -> str:
    """A lease no other test in the module uses (the database is shared by the module)."""
    return f"lease-{uuid.uuid4().hex[:8]}"


def test_lease_two_holders_and_expiry(store: Store) -> None:
    name = lease_name()
    a, b = Lease(store, name, "a", TTL), Lease(store, name, "b", TTL)
    assert a.acquire(T0)
    assert not b.acquire(T0 + timedelta(seconds=10))
    assert a.renew(T0 + timedelta(seconds=20))  # now held until T0+50
    assert not b.acquire(T0 + timedelta(seconds=45))
    assert b.acquire(T0 + timedelta(seconds=51))
    assert not a.renew(T0 + timedelta(seconds=52))
    info = a.current(T0 + timedelta(seconds=52))
    assert info is not None
    assert info.holder == "b"
    assert info.expires_at == T0 + timedelta(seconds=81)
    b.release()
    assert a.acquire(T0 + timedelta(seconds=53))


def race(holders: list[Lease], at: datetime) -> list[str]:
    """Every holder tries to acquire at the same moment; returns who got the lease."""
    barrier = threading.Barrier(len(holders))
    won: list[str] = []

    def attempt(candidate: Lease) -> None:
        barrier.wait()
        if candidate.acquire(at):
            won.append(candidate.holder)

    threads = [threading.Thread(target=attempt, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return won


def test_lease_race_has_one_winner_per_round(pg_url: str) -> None:
    name = lease_name()
    stores = [Store(pg_url).create() for _ in range(6)]
    try:
        holders = [Lease(s, name, f"h{i}", TTL) for i, s in enumerate(stores)]
        assert len(race(holders, T0)) == 1  # no row yet: one insert wins
        assert len(race(holders, T0 + timedelta(minutes=5))) == 1  # expired: one update wins
    finally:
        for s in stores:
            s.close()


def test_held_fences_inside_a_transaction(store: Store) -> None:
    name = lease_name()
    a, b = Lease(store, name, "a", TTL), Lease(store, name, "b", TTL)
    a.acquire(T0)
    with store.engine.begin() as conn:
        assert a.held(conn, T0 + timedelta(seconds=5))
        assert not b.held(conn, T0 + timedelta(seconds=5))
        assert not a.held(conn, T0 + timedelta(seconds=31))


def new_rollout(records: RolloutRecords, model: str, candidate: str = "2") -> Rollout:
    return records.create(
        model=model,
        candidate=candidate,
        champion="1",
        spec=RolloutSpec(),
        weights={"production": 100.0, "candidate": 0.0},
        actor="ci",
        reason="",
        now=T0,
    )


def test_one_active_rollout_per_model_even_when_starts_race(pg_url: str) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}"
    stores = [Store(pg_url).create() for _ in range(5)]
    try:
        barrier = threading.Barrier(len(stores))
        outcomes: list[str] = []

        def attempt(store: Store, candidate: str) -> None:
            barrier.wait()
            try:
                new_rollout(RolloutRecords(store), model, candidate)
                outcomes.append("started")
            except RolloutConflictError:
                outcomes.append("refused")

        threads = [
            threading.Thread(target=attempt, args=(s, str(i + 2))) for i, s in enumerate(stores)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["refused"] * 4 + ["started"]
    finally:
        for s in stores:
            s.close()


def test_transitions_compare_and_set_and_free_the_model_when_finished(store: Store) -> None:
    records = RolloutRecords(store)
    model = f"m-{uuid.uuid4().hex[:8]}"
    first = new_rollout(records, model)
    begun = records.transition(first, "begin", actor="a", reason="", now=T0, step_started_at=T0)
    with pytest.raises(RevisionConflict):  # a second writer that read the same revision
        records.transition(first, "abort", actor="b", reason="", now=T0)
    ended = records.transition(begun, "abort", actor="b", reason="stop", now=T0)
    assert (ended.state, ended.ended_at, records.active_for(model)) == (
        RolloutState.ABORTED,
        T0,
        None,
    )
    assert [e.to_state for e in records.events(first.id)] == ["pending", "progressing", "aborted"]
    assert new_rollout(records, model, "3").candidate == "3"  # the model is free again
