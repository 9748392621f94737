"""Prediction log lines from a real `conveyor serve`: with CONVEYOR_LOG_FORMAT=json and a rate,
sampled predictions are JSON lines whose keys a log pipeline (Loki's json stage) can query."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import Registered
from tests.serving.server import running_server

pytestmark = pytest.mark.integration


def prediction_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            record = json.loads(line)  # every line the server writes is JSON
            if record.get("event") == "prediction":
                lines.append(record)
    return lines


def test_sampled_predictions_are_json_lines(
    wine_registered: Registered, wine_row: dict[str, float], tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    env = {
        "CONVEYOR_LOG_FORMAT": "json",
        "CONVEYOR_PREDICTION_LOG_RATE": "0.5",
        "CONVEYOR_PREDICTION_LOG_MAX_BYTES": "600",
    }
    with (
        running_server(reg, "wine", env=env) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        answers = [
            client.post("/predict", json={"instances": [wine_row]}).json() for _ in range(200)
        ]
        big_id = next(f"big-{i}" for i in range(100) if sampled(f"big-{i}", 0.5))
        big = client.post(
            "/predict", json={"instances": [wine_row] * 20}, headers={"X-Request-ID": big_id}
        ).json()
        v2 = client.post(
            "/v2/models/wine/infer",
            json={"inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]}
                             for k, v in wine_row.items()]},
        )  # fmt: skip
        assert v2.status_code == 200, v2.text
    lines = prediction_lines(server.output())
    by_id = {line["request_id"]: line for line in lines}
    logged = [a for a in answers if a["request_id"] in by_id]
    # about half, chosen by request id
    assert 60 < len(logged) < 140, len(logged)
    line = by_id[logged[0]["request_id"]]
    assert line["level"] == "INFO" and line["logger"] == "conveyor.predictions"
    assert (line["model"], line["version"], line["arm"], line["rows"]) == (
        "wine",
        "1",
        "production",
        1,
    )
    assert line["prediction"] == logged[0]["predictions"][0]
    assert line["inputs"]["alcohol"] == wine_row["alcohol"]
    assert line["latency_ms"] > 0 and "truncated" not in line
    cut = by_id[big["request_id"]]  # 20 rows of inputs do not fit 600 bytes: cut, and said
    assert cut["truncated"] is True and 0 < len(cut["inputs"]) < 20 and cut["rows"] == 20
    assert len(cut["prediction"]) == 20
    assert all(a["request_id"] in by_id for a in answers if sampled(a["request_id"], 0.5))


def sampled(request_id: str, rate: float) -> bool:
    from conveyor.serving.prediction_log import PredictionLog

    return PredictionLog(rate, 4096).sampled(request_id)


async def test_off_by_default(
    wine_registered: Registered,
    wine_row: dict[str, float],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from conveyor.serving.app import create_app
    from conveyor.serving.prediction_log import LOGGER
    from tests.serving.conftest import make_settings

    settings = make_settings(
        wine_registered.home, model_name="wine", store_url=f"sqlite:///{tmp_path / 's.db'}"
    )
    app = create_app(settings)
    with caplog.at_level(logging.DEBUG):  # even at DEBUG: the rate is the opt-in
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            for _ in range(20):
                assert (await c.post("/predict", json={"instances": [wine_row]})).status_code == 200
    assert [r for r in caplog.records if r.name == LOGGER] == []
    assert app.state.conveyor.dataplane.predictions is None
