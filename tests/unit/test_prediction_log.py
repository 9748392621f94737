"""Prediction log lines: sampling by request id, bounded fields, and the keys the shipped
promtail config extracts (so the example cannot drift from what the server writes)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import yaml

from conveyor.bundle.model import ModelIdentity
from conveyor.bundle.runtime import Output
from conveyor.logs import JsonFormatter
from conveyor.serving.prediction_log import LOGGER, PredictionLog

PROMTAIL = Path(__file__).resolve().parents[2] / "deploy" / "loki" / "promtail.yaml"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def logged(rate: float, rows: int, max_bytes: int = 4096) -> list[dict[str, Any]]:
    capture = Capture()
    logger = logging.getLogger(LOGGER)
    logger.addHandler(capture)
    try:
        plog = PredictionLog(rate, max_bytes)
        plog.start()
        model: Any = SimpleNamespace(identity=ModelIdentity("wine", "3", "production"))
        columns = {"alcohol": np.full(rows, 13.5), "colour": np.asarray(["red"] * rows, object)}
        output = Output(np.arange(rows), None)
        for i in range(100):
            plog.record(model, "candidate", f"req-{i}", rows, columns, output, 2.5)
    finally:
        logger.removeHandler(capture)
    return [json.loads(line) for line in capture.lines]


def logged_text(rate: float) -> str:
    capture = Capture()
    logger = logging.getLogger(LOGGER)
    logger.addHandler(capture)
    try:
        model: Any = SimpleNamespace(identity=ModelIdentity("wine", "3", "production"))
        PredictionLog(rate, 4096).record(
            model, "production", "r", 1, {"x": np.ones(1)}, Output(np.ones(1), None), 1.0
        )
    finally:
        logger.removeHandler(capture)
    return capture.lines[0]


def test_a_line_carries_the_prediction_and_its_inputs() -> None:
    lines = logged(1.0, 1)
    assert len(lines) == 100
    line = lines[0]
    assert line["event"] == "prediction" and line["logger"] == LOGGER
    assert (line["model"], line["version"], line["arm"]) == ("wine", "3", "candidate")
    assert line["inputs"] == {"alcohol": 13.5, "colour": "red"} and line["prediction"] == 0
    assert line["request_id"] == "req-0" and line["latency_ms"] == 2.5


def test_the_rate_samples_by_request_id() -> None:
    sampled = logged(0.3, 1)
    assert 15 <= len(sampled) <= 45
    again = logged(0.3, 1)  # the same ids, the same choice: every replica agrees
    assert [x["request_id"] for x in sampled] == [x["request_id"] for x in again]
    assert logged(0.0, 1) == []


def test_large_requests_are_cut_and_marked() -> None:
    (line, *_) = logged(1.0, 500, max_bytes=1000)
    assert line["truncated"] is True and line["rows"] == 500
    assert 0 < len(line["inputs"]) < 500
    assert len(json.dumps(line["inputs"])) <= 1000


def test_the_promtail_example_extracts_keys_the_server_writes() -> None:
    config = yaml.safe_load(PROMTAIL.read_text())
    (job,) = config["scrape_configs"]
    stages = {k: v for stage in job["pipeline_stages"] for k, v in stage.items()}
    expressions = stages["json"]["expressions"]
    line = logged(1.0, 1)[0]
    assert set(expressions.values()) <= set(line), set(expressions.values()) - set(line)
    assert set(stages["labels"]) <= set(expressions)
    assert set(stages["structured_metadata"]) <= set(expressions)
    # the drop stage's regex (a LogQL string) spares a real prediction line
    regex = json.loads(stages["match"]["selector"].split("!~ ", 1)[1])
    assert re.search(regex, logged_text(1.0))
    assert not re.search(regex, json.dumps({"message": "serving wine version 3"}))
