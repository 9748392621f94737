"""Rollouts in the store (SQLite) and the state machine: compare-and-set, the lease fence,
one active rollout per model, events and audit written with each transition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.rollout.errors import IllegalTransitionError, RolloutConflictError
from conveyor.rollout.lease import Lease
from conveyor.rollout.records import LeaseLost, RevisionConflict, RolloutRecords
from conveyor.rollout.state import COMMANDS, Rollout, RolloutState, target
from conveyor.rollout.verdicts import Decision, StepVerdict
from conveyor.spec.models import RolloutSpec
from conveyor.store import AuditLog, Store

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'conveyor.db'}").create()
    yield opened
    opened.close()


def create(records: RolloutRecords, model: str = "wine", candidate: str = "2") -> Rollout:
    return records.create(
        model=model,
        candidate=candidate,
        champion="1",
        spec=RolloutSpec(strategy="shadow", webhooks=["https://hooks.example/r"]),
        weights={"production": 100.0, "candidate": 0.0},
        actor="alice",
        reason="try it",
        now=T0,
    )


def test_every_command_leads_from_its_states_only() -> None:
    assert target("wine", RolloutState.PENDING, "begin") is RolloutState.PROGRESSING
    assert target("wine", RolloutState.PAUSED, "promote") is RolloutState.PROMOTING
    assert target("wine", RolloutState.PROMOTING, "refuse") is RolloutState.PAUSED
    for command, (sources, _) in COMMANDS.items():
        for state in RolloutState:
            if state not in sources:
                with pytest.raises(IllegalTransitionError) as err:
                    target("wine", state, command)
                assert f"it is {state.value}" in err.value.message
    assert not any(s.terminal for sources, _ in COMMANDS.values() for s in sources)
    assert {s for s in RolloutState if s.terminal} == {
        RolloutState.SUCCEEDED,
        RolloutState.ROLLED_BACK,
        RolloutState.ABORTED,
    }


def test_illegal_command_names_where_it_is_allowed() -> None:
    with pytest.raises(IllegalTransitionError) as err:
        target("wine", RolloutState.PROMOTING, "abort")
    assert err.value.message == (
        "cannot abort the rollout of 'wine': it is promoting "
        "(allowed when paused or pending or progressing)"
    )


def test_create_reads_back_and_refuses_a_second(store: Store) -> None:
    records = RolloutRecords(store)
    first = create(records)
    assert (first.state, first.step, first.revision, first.spec.strategy) == (
        RolloutState.PENDING,
        0,
        0,
        "shadow",
    )
    assert records.active_for("wine") == first == records.latest("wine")
    with pytest.raises(RolloutConflictError, match=r"#1, version 2, pending"):
        create(records, candidate="3")
    assert create(records, model="iris").model == "iris"  # other models are free
    assert [r.model for r in records.active()] == ["wine", "iris"]


def test_transitions_compare_and_set(store: Store) -> None:
    records = RolloutRecords(store)
    first = create(records)
    begun = records.transition(
        first, "begin", actor="c", reason="go", now=T0, step=0, step_started_at=T0
    )
    assert (begun.state, begun.revision, begun.step_started_at) == (RolloutState.PROGRESSING, 1, T0)
    with pytest.raises(RevisionConflict):  # read before "begin": stale
        records.transition(first, "abort", actor="bob", reason="", now=T0)
    with pytest.raises(IllegalTransitionError):
        records.transition(begun, "resume", actor="bob", reason="", now=T0)
    assert records.get(first.id) == begun


def test_finishing_frees_the_model_and_keeps_the_history(store: Store) -> None:
    records = RolloutRecords(store)
    first = create(records)
    later = T0 + timedelta(minutes=5)
    ended = records.transition(
        first,
        "abort",
        actor="bob",
        reason="stop",
        now=later,
        weights={"production": 100.0, "candidate": 0.0},
    )
    assert (ended.state, ended.ended_at, ended.reason) == (RolloutState.ABORTED, later, "stop")
    assert records.active_for("wine") is None
    assert records.latest("wine") == ended
    assert create(records, candidate="3").id == first.id + 1
    events = records.events(first.id)
    assert [(e.from_state, e.to_state, e.actor) for e in events] == [
        (None, "pending", "alice"),
        ("pending", "aborted", "bob"),
    ]
    audit = AuditLog(store).history("wine")
    assert [(a.action, a.version, a.from_stage, a.to_stage) for a in audit] == [
        ("rollout.start", "2", None, "pending"),
        ("rollout.abort", "2", "pending", "aborted"),
        ("rollout.start", "3", None, "pending"),
    ]
    assert audit[0].details["rollout"] == first.id


def test_a_fenced_write_needs_the_lease(store: Store) -> None:
    records = RolloutRecords(store)
    first = create(records)
    mine, theirs = (Lease(store, "rollout-controller", h, timedelta(seconds=30)) for h in "ab")
    assert theirs.acquire(T0)
    with pytest.raises(LeaseLost):
        records.transition(
            first, "begin", actor="a", reason="", now=T0, fence=lambda c: mine.held(c, T0)
        )
    assert records.get(first.id).state is RolloutState.PENDING  # nothing written, no event
    assert len(records.events(first.id)) == 1
    begun = records.transition(
        first, "begin", actor="b", reason="", now=T0, fence=lambda c: theirs.held(c, T0)
    )
    assert begun.state is RolloutState.PROGRESSING


def test_analyses_are_stored_with_their_evidence(store: Store) -> None:
    records = RolloutRecords(store)
    first = create(records)
    verdict = StepVerdict(Decision.WAIT, "waiting for evidence: error_rate: 3 requests", [])
    records.record_analysis(first, verdict, actor="c", now=T0)
    (_, analysis) = records.events(first.id)
    assert (analysis.kind, analysis.verdict, analysis.step) == ("analysis", "wait", 0)
    assert analysis.evidence == verdict.to_dict()


def test_owed_registry_work_is_listed_until_settled(store: Store) -> None:
    records = RolloutRecords(store)
    first = create(records)
    begun = records.transition(first, "begin", actor="c", reason="", now=T0)
    failed = records.transition(
        begun, "rollback", actor="c", reason="bad", now=T0, pending="reject"
    )
    assert [r.id for r in records.owed()] == [failed.id]
    records.settle(failed)
    assert records.owed() == []


def test_a_rollout_is_plain_json(store: Store) -> None:
    document = create(RolloutRecords(store)).to_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["spec"]["strategy"] == "shadow"
    assert document["started_at"] == "2030-01-01T12:00:00+00:00"
