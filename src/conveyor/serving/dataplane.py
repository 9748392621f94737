"""The protocol-agnostic core of the server: run a prediction, stamp it, log it, count it.

REST routes (`/predict`, Open Inference Protocol) only decode and encode; everything they
have in common happens here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from conveyor.serving.features import KEYS_FIELD
from conveyor.serving.inference_log import InferenceLogWriter, LogUnavailableError, Record
from conveyor.serving.manager import LoadedModel, ModelManager
from conveyor.serving.metrics import ServerMetrics
from conveyor.tracing import Tracing

if TYPE_CHECKING:
    from collections.abc import Mapping

    from conveyor.bundle.runtime import Columns, Output
    from conveyor.monitoring.watch import Watcher
    from conveyor.serving.prediction_log import PredictionLog
    from conveyor.serving.recent import RecentPredictions
    from conveyor.serving.routing import Routing


@dataclass(frozen=True)
class Prediction:
    request_id: str
    model: LoadedModel
    output: Output
    latency_ms: float

    @property
    def classes(self) -> list[Any]:
        return self.model.bundle.schema.classes


def new_request_id() -> str:
    return uuid.uuid4().hex


class DataPlane:
    def __init__(
        self,
        manager: ModelManager,
        metrics: ServerMetrics,
        log_writer: InferenceLogWriter | None,
        watcher: Watcher | None = None,
        routing: Routing | None = None,
        recent: RecentPredictions | None = None,
        predictions: PredictionLog | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.log_writer = log_writer
        self.watcher = watcher
        self.routing = routing
        self.recent = recent  # answered request ids, for feedback to match
        self.predictions = predictions  # sampled prediction log lines, for log pipelines
        self.tracing = tracing or Tracing()
        self._mirrors: set[asyncio.Task[None]] = set()
        self._class_counters: dict[tuple[str, str, str], Any] = {}

    async def predict(
        self,
        columns: Columns,
        rows: int,
        request_id: str,
        started: float,
        version: str | None = None,
        model: LoadedModel | None = None,
        headers: Mapping[str, str] | None = None,
        keys: dict[str, list[Any]] | None = None,
    ) -> Prediction:
        """Run one request. Without a pinned ``version``, a rollout in progress picks the arm
        (``model`` is then production's); a mirrored arm gets a copy after the answer.
        ``keys``: the entity keys its features were looked up by, logged beside them."""
        model = model or self.manager.get(version)
        arm = "candidate" if model is self.manager.side else "production"  # pinned
        choice = None
        if version is None and self.routing is not None:
            choice = self.routing.choose(model, request_id, headers, columns)
            model, arm = choice.model, choice.arm
        submitted = time.perf_counter()
        ident = model.identity
        at = {"conveyor.model": ident.name, "conveyor.version": ident.version, "conveyor.arm": arm}
        with self.tracing.span("conveyor.model", **at):
            try:
                output = await model.batcher.submit(columns, rows)
            except Exception as exc:
                self._log_failure(model, arm, request_id, rows, started, exc)
                raise
        latency_ms = (time.perf_counter() - started) * 1000
        with self.tracing.span("conveyor.log"):
            logged: dict[str, Any] = columns if keys is None else {**columns, KEYS_FIELD: keys}
            durable = self._log(model, arm, request_id, rows, logged, output, latency_ms, 200, True)
            if durable is not None:  # CONVEYOR_INFERENCE_LOG_SYNC: answer once the record is kept
                await durable
        self._count_classes(model, output)
        if self.predictions is not None:
            self.predictions.record(model, arm, request_id, rows, columns, output, latency_ms)
        if choice is not None and choice.mirror is not None:
            overhead_ms = (submitted - started) * 1000  # decoding etc., before the model
            epoch = self.manager.inflight.enter()  # the copy holds its arm as the request did
            task = asyncio.create_task(
                self._mirror(
                    choice.mirror, choice.mirror_arm or "", columns, rows, request_id, overhead_ms
                )
            )
            task.add_done_callback(lambda _: self.manager.inflight.leave(epoch))
            self._mirrors.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._mirrors.discard)
        return Prediction(request_id, model, output, latency_ms)

    async def _mirror(
        self,
        model: LoadedModel,
        arm: str,
        columns: Columns,
        rows: int,
        request_id: str,
        overhead_ms: float,
    ) -> None:
        """The copy of a request for the other arm: its answer is logged, never returned. Its
        latency is the answering arm's pre-model time plus its own model call, so the two arms'
        latencies compare like for like."""
        started = time.perf_counter() - overhead_ms / 1000
        try:
            output = await model.batcher.submit(columns, rows)
        except Exception as exc:
            output, status = None, getattr(exc, "http_status", 500)
        else:
            status = 200
        latency_ms = (time.perf_counter() - started) * 1000
        with contextlib.suppress(LogUnavailableError):  # counted; nobody waits for a copy
            self._log(model, arm, request_id, rows, columns, output, latency_ms, status, False)

    def _log_failure(
        self,
        model: LoadedModel,
        arm: str,
        request_id: str,
        rows: int,
        started: float,
        exc: Exception,
    ) -> None:
        """A failed answer is a row too, as a failed mirrored copy is: a rollout's error check
        must see both arms' failures, whichever arm answers. (The request's metrics and the
        live monitor count it in the middleware.)"""
        if self.log_writer is None:
            return
        ident = model.identity
        status = int(getattr(exc, "http_status", 500))
        latency_ms = (time.perf_counter() - started) * 1000
        record = Record(
            request_id, datetime.now(UTC), ident.name, ident.version, arm, rows, {}, {},
            latency_ms, status,
        )  # fmt: skip
        with contextlib.suppress(LogUnavailableError):  # the request fails either way
            self.log_writer.submit(record, wait=False)

    def _log(
        self,
        model: LoadedModel,
        arm: str,
        request_id: str,
        rows: int,
        columns: dict[str, Any],
        output: Output | None,
        latency_ms: float,
        status: int,
        answered: bool,
    ) -> asyncio.Future[None] | None:
        """Record a model call; returns what an answered request waits for when the log is
        synchronous. Raises ``LogUnavailableError`` when the log cannot keep the record."""
        ident = model.identity
        durable = None
        if self.log_writer is not None:
            outputs: dict[str, Any] = {}
            if output is not None:
                outputs["predictions"] = output.predictions
                if output.probabilities is not None:
                    outputs["probabilities"] = output.probabilities
            durable = self.log_writer.submit(
                Record(
                    request_id,
                    datetime.now(UTC),
                    ident.name,
                    ident.version,
                    arm,
                    rows,
                    columns,
                    outputs,
                    latency_ms,
                    status,
                ),
                wait=answered,
            )
            if status == 200 and self.recent is not None:
                self.recent.add(request_id, rows)
        if self.watcher is not None:
            self.watcher.request(model.bundle, latency_ms, status)
        return durable

    def _count_classes(self, model: LoadedModel, output: Output) -> None:
        ident = model.identity
        predictions = output.predictions
        if not model.bundle.classification:
            self._counter(ident.name, ident.version, "").inc(len(predictions))
            return
        if len(predictions) == 1:  # the common case: no numpy round trip
            self._counter(ident.name, ident.version, str(predictions[0])).inc()
            return
        import numpy as np

        values, counts = np.unique(predictions, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            self._counter(ident.name, ident.version, str(value)).inc(count)

    def _counter(self, name: str, version: str, cls: str) -> Any:
        key = (name, version, cls)
        child = self._class_counters.get(key)
        if child is None:
            child = self._class_counters[key] = self.metrics.predictions.labels(name, version, cls)
        return child
