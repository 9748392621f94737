"""Prediction log lines: one structured log record per sampled prediction, for log pipelines.

Off by default (``CONVEYOR_PREDICTION_LOG_RATE=0``). With a rate, that share of answered
requests (chosen by a hash of the request id, so every replica and worker samples the same
requests) is logged by the ``conveyor.predictions`` logger at INFO: request id, model, version,
arm, latency, the predictions and the inputs, both cut to ``CONVEYOR_PREDICTION_LOG_MAX_BYTES``
of JSON. With ``CONVEYOR_LOG_FORMAT=json`` the fields are top-level keys of the line, which
Loki (promtail/Alloy ``json`` stage), Vector or any log pipeline can index and query. This is a
second, lossy view for people and their tools; the inference log in the store stays the record
that monitoring and rollouts read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.bundle.runtime import Columns, Output
    from conveyor.serving.manager import LoadedModel

LOGGER = "conveyor.predictions"
_SCALE = float(1 << 64)


class PredictionLog:
    """Logs a sampled share of predictions; ``rate`` 0 logs none, 1 every one."""

    def __init__(self, rate: float, max_bytes: int) -> None:
        self.rate = rate
        self.max_bytes = max_bytes
        self.log = logging.getLogger(LOGGER)

    def start(self) -> None:
        # the records are INFO whatever CONVEYOR_LOG_LEVEL says for Conveyor's other lines:
        # turning the rate up is the opt-in
        if self.rate > 0:
            self.log.setLevel(logging.INFO)

    def sampled(self, request_id: str) -> bool:
        if self.rate <= 0:
            return False
        if self.rate >= 1:
            return True
        digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / _SCALE < self.rate

    def record(
        self,
        model: LoadedModel,
        arm: str,
        request_id: str,
        rows: int,
        columns: Columns,
        output: Output,
        latency_ms: float,
    ) -> None:
        """Log one answered request if it is in the sample."""
        if not self.sampled(request_id):
            return
        ident = model.identity
        inputs, inputs_cut = _bounded(_records(columns, rows), self.max_bytes)
        predictions, predictions_cut = _bounded(_plain(output.predictions), self.max_bytes)
        fields: dict[str, Any] = {
            "event": "prediction",
            "request_id": request_id,
            "model": ident.name,
            "version": ident.version,
            "arm": arm,
            "rows": rows,
            "latency_ms": round(latency_ms, 3),
            "prediction": predictions[0] if rows == 1 and predictions else predictions,
            "inputs": inputs[0] if rows == 1 and inputs else inputs,
        }
        if inputs_cut or predictions_cut:
            fields["truncated"] = True
        self.log.info(
            "prediction %s %s v%s %s %.1f ms",
            request_id,
            ident.name,
            ident.version,
            arm,
            latency_ms,
            extra={"fields": fields},
        )


def _records(columns: Columns, rows: int) -> list[dict[str, Any]]:
    lists = {name: _plain(values) for name, values in columns.items()}
    return [{name: values[i] for name, values in lists.items()} for i in range(rows)]


def _plain(values: Any) -> list[Any]:
    """JSON-ready Python values (NaN as None) from an array or list."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return [None if isinstance(v, float) and v != v else v for v in items]


def _bounded(items: list[Any], max_bytes: int) -> tuple[list[Any], bool]:
    """The longest prefix of ``items`` whose JSON fits ``max_bytes``; whether it was cut."""
    if len(json.dumps(items, default=str)) <= max_bytes:
        return items, False
    kept: list[Any] = []
    size = 2
    for item in items:
        size += len(json.dumps(item, default=str)) + 2
        if size > max_bytes:
            break
        kept.append(item)
    return kept, True
