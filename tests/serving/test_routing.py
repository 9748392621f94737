"""Rollout routing in the server, in process on the registered wine model (v1 production, v2
staging): the split follows the stored rollout, a request id sticks to its arm, pinned
versions bypass the split, arms are logged, a shadow candidate gets a copy of every request,
and the candidate is dropped when the rollout ends."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from conveyor.rollout.records import RolloutRecords
from conveyor.rollout.state import Rollout
from conveyor.rollout.verdicts import CheckResult, Decision, StepVerdict, Verdict
from conveyor.spec.models import RolloutSpec
from conveyor.store.tables import inference_log


def begin(records: RolloutRecords, spec: RolloutSpec, weight: float) -> Rollout:
    now = datetime.now(UTC)
    idle = {"production": 100.0, "candidate": 0.0}
    rollout = records.create(
        model="wine",
        candidate="2",
        champion="1",
        spec=spec,
        weights=idle,
        actor="test",
        reason="",
        now=now,
    )
    weights = {"production": 100.0 - weight, "candidate": weight}
    return records.transition(
        rollout, "begin", actor="test", reason="", now=now, step=0, weights=weights
    )


def weights(response: httpx.Response) -> tuple[dict[tuple[str, str], float], float | None]:
    """conveyor_rollout_weight by (version, arm), and conveyor_rollout_step, of wine."""
    found: dict[tuple[str, str], float] = {}
    step = None
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.labels.get("model") != "wine":
                continue
            if sample.name == "conveyor_rollout_weight":
                found[(sample.labels["version"], sample.labels["arm"])] = sample.value
            elif sample.name == "conveyor_rollout_step":
                step = sample.value
    return found, step


async def test_canary_split_stickiness_pinning_and_arms(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    records = RolloutRecords(state.store)
    rollout = begin(records, RolloutSpec(steps=[30.0, 100.0]), 30.0)
    await state.dataplane.routing.refresh()
    assert state.manager.side is not None and state.manager.side.identity.version == "2"
    assert weights(await wine_client.get("/metrics")) == (
        {("1", "production"): 70.0, ("2", "candidate"): 30.0},
        0.0,
    )
    waiting = StepVerdict(
        Decision.WAIT,
        "waiting",
        [
            CheckResult("error_rate", Verdict.PASS, {}, "ok"),
            CheckResult("online_accuracy", Verdict.INCONCLUSIVE, {}, "few labels"),
        ],
    )
    records.record_analysis(rollout, waiting, actor="test", now=datetime.now(UTC))
    await state.dataplane.routing.refresh()
    checks = {
        (s.labels["check"], s.labels["verdict"], s.labels["version"])
        for f in text_string_to_metric_families((await wine_client.get("/metrics")).text)
        for s in f.samples
        if s.name == "conveyor_rollout_check" and s.value == 1
    }
    assert checks == {("error_rate", "pass", "2"), ("online_accuracy", "inconclusive", "2")}

    versions: Counter[str] = Counter()
    for _ in range(400):
        r = await wine_client.post("/predict", json={"instances": [wine_row]})
        assert r.status_code == 200, r.text
        versions[r.json()["model"]["version"]] += 1
    # 30 % of 400: 120, standard deviation 9.2; ±4.5 sd
    assert 79 <= versions["2"] <= 161 and versions["1"] + versions["2"] == 400, versions

    seen = set()
    for _ in range(5):  # a retried request id lands on the same arm
        r = await wine_client.post(
            "/predict", json={"instances": [wine_row]}, headers={"X-Request-ID": "retry-me-1"}
        )
        seen.add(r.json()["model"]["version"])
    assert len(seen) == 1

    for pinned in ("1", "2"):  # an explicit version bypasses the split
        for _ in range(20):
            body = {"instances": [wine_row], "model_version": pinned}
            r = await wine_client.post("/predict", json=body)
            assert r.json()["model"]["version"] == pinned
    v2 = await wine_client.post(
        "/v2/models/wine/versions/2/infer",
        json={
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 13],
                    "datatype": "FP64",
                    "data": list(wine_row.values()),
                }
            ]
        },
    )
    assert v2.status_code == 200 and v2.json()["model_version"] == "2", v2.text

    records.transition(rollout, "abort", actor="test", reason="done", now=datetime.now(UTC))
    await state.dataplane.routing.refresh()
    assert state.manager.side is None
    assert weights(await wine_client.get("/metrics")) == ({("1", "production"): 100.0}, -1.0)
    for _ in range(30):
        r = await wine_client.post("/predict", json={"instances": [wine_row]})
        assert r.json()["model"]["version"] == "1"
    gone = await wine_client.post("/predict", json={"instances": [wine_row], "model_version": "2"})
    assert gone.status_code == 404

    state.log_writer.stop()
    with state.store.engine.connect() as conn:
        arms = Counter(conn.execute(sa.select(inference_log.c.arm, inference_log.c.version)).all())
    assert arms[("candidate", "2")] >= versions["2"]  # routed ones (pinned ones count too)
    assert all(
        (arm, version) in {("production", "1"), ("candidate", "2")} for arm, version in arms
    ), arms


async def test_shadow_copies_every_request_to_the_candidate(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    begin(RolloutRecords(state.store), RolloutSpec(strategy="shadow"), 0.0)
    await state.dataplane.routing.refresh()
    ids = []
    for _ in range(40):
        r = await wine_client.post("/predict", json={"instances": [wine_row]})
        assert r.json()["model"]["version"] == "1"  # only production answers
        ids.append(r.json()["request_id"])
    for _ in range(100):  # the copies run after the answers
        if not state.dataplane._mirrors:
            break
        await asyncio.sleep(0.05)
    state.log_writer.stop()
    with state.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(inference_log.c.request_id, inference_log.c.version, inference_log.c.arm)
        ).all()
    by_version = {v: {rid for rid, version, _ in rows if version == v} for v in ("1", "2")}
    assert by_version["1"] == by_version["2"] == set(ids)  # paired by request id
    assert {arm for _, version, arm in rows if version == "2"} == {"candidate"}
