"""Evidence from the store: each arm's calls in the inference log, and the feedback on them.

The contract with the server: every call of a version — the one that answered and, for
mirrored traffic, the copy — is one ``inference_log`` row under that version, with the
request's id (so answer and copy pair up), its latency and its HTTP status (5xx counts as an
error, except 503: a call the server shed under load says nothing about the version, and
counting it would fail whichever arm takes the live traffic when the machine is busy; only 200s
carry predictions). Feedback joins by request id and row, as in monitoring.
The most recent ``max_requests`` calls of each version in the window are read, so a busy
window costs a bounded query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.clock import aware
from conveyor.rollout.evidence import ArmEvidence, Evidence, Pairs, TaskName
from conveyor.store.errors import store_errors
from conveyor.store.tables import feedback, inference_log

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Connection

    from conveyor.rollout.state import Rollout
    from conveyor.settings import Settings
    from conveyor.store.engine import Store


SHED = 503  # overloaded or not accepting: capacity, not the version's doing


@dataclass
class _Arm:
    requests: int = 0
    errors: int = 0
    shed: int = 0
    latencies: list[float] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    by_key: dict[tuple[str, int], Any] = field(default_factory=dict)  # (request id, row)
    inputs: dict[str, list[Any]] = field(default_factory=dict)
    input_keys: list[tuple[str, int]] = field(default_factory=list)  # the rows of ``inputs``
    labels: list[Any] = field(default_factory=list)
    labelled: list[Any] = field(default_factory=list)

    def evidence(self, version: str) -> ArmEvidence:
        return ArmEvidence(
            version,
            self.requests,
            self.errors,
            self.latencies,
            self.predictions,
            self.labels,
            self.labelled,
            self.inputs,
            self.shed,
        )


class InferenceLogEvidence:
    """An ``EvidenceProvider`` reading the inference log and feedback of a rollout's window.

    ``task`` is the model's (its bundle knows); ``pairs`` says whether to pair the arms'
    predictions by request id (the steps with mirrored traffic); ``inputs`` whether to read
    the feature values for the input-drift check.
    """

    def __init__(
        self,
        store: Store,
        task: TaskName,
        *,
        max_requests: int = 20_000,
        inputs: bool = True,
    ) -> None:
        self.store = store
        self.task = task
        self.max_requests = max_requests
        self.inputs = inputs

    def __call__(self, rollout: Rollout, since: datetime, until: datetime) -> Evidence:
        with (
            store_errors(f"read the evidence of {rollout.model!r}"),
            self.store.engine.connect() as conn,
        ):
            # both arms over the same span: an arm that began later (a candidate still loading
            # when the step began, or a step cut by max_requests) must not be compared with
            # traffic from a time it never saw, or changing traffic reads as a biased split
            starts = [
                self._first_at(conn, rollout.model, v, since, until)
                for v in (rollout.champion, rollout.candidate)
            ]
            if all(at is not None for at in starts):
                since = max(since, *(aware(at) for at in starts if at is not None))
            champion = self._arm(conn, rollout.model, rollout.champion, since, until)
            candidate = self._arm(conn, rollout.model, rollout.candidate, since, until)
        shared = sorted(champion.by_key.keys() & candidate.by_key.keys())
        pairs = None
        if shared and self.inputs:
            # a step with mirrored copies: both arms saw the requests they share, by
            # construction; answers outside them (the other arm's live traffic while servers
            # still routed by the previous step's weights) must not read as a biased split
            keep = set(shared)
            for arm in (champion, candidate):
                arm.inputs = _only(arm.inputs, arm.input_keys, keep)
        if shared:
            pairs = Pairs(
                [champion.by_key[k] for k in shared], [candidate.by_key[k] for k in shared]
            )
        return Evidence(
            self.task,
            champion.evidence(rollout.champion),
            candidate.evidence(rollout.candidate),
            pairs,
        )

    def _first_at(
        self, conn: Connection, model: str, version: str, since: datetime, until: datetime
    ) -> datetime | None:
        """When the version's calls that ``_arm`` reads begin."""
        log = inference_log.c
        window = (
            (log.model == model) & (log.version == version) & (log.at >= since) & (log.at < until)
        )
        read = (
            sa.select(log.at.label("at"))
            .where(window)
            .order_by(log.at.desc())
            .limit(self.max_requests)
            .subquery()
        )
        found: datetime | None = conn.execute(sa.select(sa.func.min(read.c.at))).scalar()
        return found

    def _arm(
        self, conn: Connection, model: str, version: str, since: datetime, until: datetime
    ) -> _Arm:
        log = inference_log.c
        window = (
            (log.model == model) & (log.version == version) & (log.at >= since) & (log.at < until)
        )
        columns = [log.id, log.request_id, log.status, log.latency_ms, log.outputs]
        if self.inputs:
            columns.append(log.inputs)
        recent = sa.select(*columns).where(window).order_by(log.at.desc()).limit(self.max_requests)
        arm = _Arm()
        oldest: int | None = None
        for row in conn.execute(recent).mappings():
            oldest = row["id"] if oldest is None else min(oldest, row["id"])
            if row["status"] == SHED:
                arm.shed += 1
                continue
            arm.requests += 1
            if row["status"] >= 500:
                arm.errors += 1
                continue
            arm.latencies.append(float(row["latency_ms"]))
            if row["status"] != 200:
                continue
            predictions = _predictions(row["outputs"])
            arm.predictions.extend(predictions)
            for i, value in enumerate(predictions):
                arm.by_key[(row["request_id"], i)] = value
            if self.inputs:
                _extend(arm.inputs, row["inputs"] or {}, len(predictions))
                arm.input_keys.extend((row["request_id"], i) for i in range(len(predictions)))
        if oldest is not None:
            self._labels(conn, arm, window & (log.id >= oldest) & (log.status == 200))
        return arm

    def _labels(self, conn: Connection, arm: _Arm, window: Any) -> None:
        query = (
            sa.select(feedback.c.request_id, feedback.c.row, feedback.c.label)
            .join(inference_log, inference_log.c.request_id == feedback.c.request_id)
            .where(window)
        )
        for request_id, row, label in conn.execute(query):
            predicted = arm.by_key.get((request_id, row))
            if predicted is not None:
                arm.labels.append(label)
                arm.labelled.append(predicted)


def _only(
    inputs: dict[str, list[Any]], keys: list[tuple[str, int]], keep: set[tuple[str, int]]
) -> dict[str, list[Any]]:
    """``inputs`` restricted to the rows whose key is in ``keep``."""
    rows = [i for i, key in enumerate(keys) if key in keep]
    return {name: [values[i] for i in rows if i < len(values)] for name, values in inputs.items()}


def _predictions(outputs: Any) -> list[Any]:
    values = (outputs or {}).get("predictions") or []
    return list(values) if isinstance(values, list) else [values]


def _extend(columns: dict[str, list[Any]], inputs: dict[str, Any], rows: int) -> None:
    """Append a request's feature columns, each padded or cut to its number of rows (an
    object is not a column: the entity keys its features were looked up by)."""
    for name, values in inputs.items():
        if isinstance(values, dict):
            continue
        listed = values if isinstance(values, list) else [values]
        column = columns.setdefault(name, [])
        column.extend(_fit(listed, rows))


def _fit(values: Iterable[Any], rows: int) -> list[Any]:
    fitted = list(values)[:rows]
    return fitted + [None] * (rows - len(fitted))


class EvidenceByTask:
    """``InferenceLogEvidence`` for rollouts of any model: the task (classification or
    regression) comes from the champion's registered bundle, read once per version."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._tasks: dict[tuple[str, str], TaskName] = {}

    def __call__(self, rollout: Rollout, since: datetime, until: datetime) -> Evidence:
        from conveyor.rollout.log_evidence import InferenceLogEvidence

        task = self.task(rollout.model, rollout.champion)
        return InferenceLogEvidence(self.store, task)(rollout, since, until)

    def task(self, model: str, version: str) -> TaskName:
        key = (model, version)
        if key not in self._tasks:
            from conveyor.bundle.sources import registered_bundle

            bundle = registered_bundle(self.settings, model, version)
            self._tasks[key] = "classification" if bundle.classification else "regression"
        return self._tasks[key]
