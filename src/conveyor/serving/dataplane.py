"""The protocol-agnostic core of the server: run a prediction, stamp it, log it, count it.

REST routes (`/predict`, Open Inference Protocol) only decode and encode; everything they
have in common happens here once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from conveyor.serving.inference_log import InferenceLogWriter, Record
from conveyor.serving.manager import LoadedModel, ModelManager
from conveyor.serving.metrics import ServerMetrics

if TYPE_CHECKING:
    from conveyor.monitoring.watch import Watcher
    from conveyor.serving.runtime import Columns, Output


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
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.log_writer = log_writer
        self.watcher = watcher
        self._class_counters: dict[tuple[str, str, str], Any] = {}

    async def predict(
        self,
        columns: Columns,
        rows: int,
        request_id: str,
        started: float,
        version: str | None = None,
        model: LoadedModel | None = None,
    ) -> Prediction:
        model = model or self.manager.get(version)
        output = await model.batcher.submit(columns, rows)
        latency_ms = (time.perf_counter() - started) * 1000
        ident = model.identity
        if self.log_writer is not None:
            outputs: dict[str, Any] = {"predictions": output.predictions}
            if output.probabilities is not None:
                outputs["probabilities"] = output.probabilities
            self.log_writer.submit(
                Record(
                    request_id,
                    datetime.now(UTC),
                    ident.name,
                    ident.version,
                    "production",
                    rows,
                    columns,
                    outputs,
                    latency_ms,
                    200,
                )
            )
        if self.watcher is not None:
            self.watcher.request(model.bundle, latency_ms, 200)
        self._count_classes(model, output)
        return Prediction(request_id, model, output, latency_ms)

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
