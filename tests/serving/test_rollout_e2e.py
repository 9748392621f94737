"""Rollouts end to end: a real two-worker `conveyor serve`, real traffic with delayed ground
truth. A better v2 is rolled out by canary and promoted; v3, trained on consistently permuted
labels (its own holdout scores look fine, so offline gates pass it), is rolled back once the
feedback and the champion show it. Both workers split the traffic by the one stored rollout."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_wine

from tests.serving.conftest import Registered
from tests.serving.server import Server, running_server

pytestmark = pytest.mark.integration

TOKEN = "rollout-e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPEC = """\
name: wine
task: classification
data: {source: %s, target: target}
model:
  estimator: sklearn.linear_model.LogisticRegression
  params: {C: %s, max_iter: 2000}
gates:
  champion: {enabled: false}
"""
ANALYSIS = {
    "min_requests": 40,
    "min_pairs": 40,
    "min_labels": 30,
    "max_wait_seconds": 30,
}


@pytest.fixture(scope="module")
def three_versions(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """v1 production (C 0.01: weaker), v2 (C 1: better), v3 (labels permuted 0→1→2→0)."""
    root = tmp_path_factory.mktemp("rollout-e2e")
    reg = Registered(root / "home", root / "wine", "wine")
    reg.project.mkdir()
    frame = load_wine(as_frame=True).frame
    frame.to_csv(reg.project / "wine.csv", index=False)
    bad = frame.assign(target=(frame["target"] + 1) % 3)
    bad.to_csv(reg.project / "wine-relabelled.csv", index=False)
    for source, c in (("wine.csv", 0.01), ("wine.csv", 1.0), ("wine-relabelled.csv", 1.0)):
        (reg.project / "conveyor.yaml").write_text(SPEC % (source, c))
        reg.prepare("run")
    reg.prepare("promote", "wine", "1", "--to", "production")
    return reg


class Traffic:
    """Clients sending wine rows one per request, posting the true label as feedback."""

    def __init__(self, base: str) -> None:
        data = load_wine(as_frame=True)
        self.rows = data.frame.drop(columns="target").to_dict("records")
        self.labels = data.target.to_numpy()
        self.base = base
        self.versions: Counter[str] = Counter()
        self.answers: list[tuple[float, str]] = []  # (wall clock, version) of every answer
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def _run(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self._stop.is_set():
                i = int(rng.integers(len(self.rows)))
                r = client.post("/predict", json={"instances": [self.rows[i]]})
                if r.status_code != 200:
                    self.errors += 1
                    continue
                answer = r.json()
                self.versions[answer["model"]["version"]] += 1
                self.answers.append((time.time(), answer["model"]["version"]))
                feedback = {"request_id": answer["request_id"], "label": int(self.labels[i])}
                client.post("/feedback", json=feedback)

    def between(self, start: float, end: float = float("inf")) -> Counter[str]:
        return Counter(v for at, v in list(self.answers) if start <= at < end)

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def rollout(server: Server) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/admin/rollout", headers=AUTH, timeout=10).json())


def wait_until_ended(server: Server, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = rollout(server)
        if view["rollout"]["state"] in ("succeeded", "rolled_back", "aborted"):
            return view
        time.sleep(0.5)
    raise AssertionError(f"rollout still running after {timeout:.0f} s: {rollout(server)}")


def production_version(reg: Registered) -> str:
    import json

    shown = json.loads(reg.conveyor("models", "list", "--json").stdout)
    (wine,) = [m for m in shown if m["name"] == "wine"]
    return str(wine["production"])


@pytest.fixture
def server(three_versions: Registered, tmp_path: Path) -> Iterator[tuple[Registered, Server]]:
    reg = three_versions.clone(tmp_path)
    env = {
        "CONVEYOR_ADMIN_TOKEN": TOKEN,
        "CONVEYOR_ROLLOUT_POLL_SECONDS": "0.5",
        "CONVEYOR_ROLLOUT_CONTROLLER_SECONDS": "1",
        # the alias refresh is slow here on purpose: a promoted candidate must keep the
        # traffic by the routing table's hand-over, not by the refresh catching up
        "CONVEYOR_REFRESH_SECONDS": "60",
    }
    with running_server(reg, "wine", "--workers", "2", env=env) as srv:
        yield reg, srv


def test_good_candidate_promoted_bad_one_rolled_back(server: tuple[Registered, Server]) -> None:
    reg, srv = server
    start = {"version": "2", "steps": [50, 100], "step_seconds": 6, "analysis": ANALYSIS}
    r = httpx.post(f"{srv.url}/admin/rollout/start", headers=AUTH, json=start, timeout=30)
    assert r.status_code == 201, r.text
    with Traffic(srv.url) as traffic:
        view = wait_until_ended(srv, 120)
        ended_at = time.time()
        while time.time() < ended_at + 3:  # keep probing across the end of the rollout
            time.sleep(0.05)
    assert view["rollout"]["state"] == "succeeded", [
        (e["kind"], e.get("verdict"), e.get("reason"), e.get("evidence")) for e in view["events"]
    ]
    assert traffic.errors == 0
    assert production_version(reg) == "2"
    analyses = [e for e in view["events"] if e["kind"] == "analysis"]
    assert analyses and all(e["verdict"] == "pass" for e in analyses), analyses

    def at(event: dict[str, Any]) -> float:
        return datetime.fromisoformat(event["at"]).timestamp()

    began = min(at(e) for e in view["events"] if e.get("to_state") == "progressing")
    last_step = min(at(e) for e in view["events"] if e["step"] == 1)
    # the 50 % step, less a routing poll at each edge: both workers split by the stored weights
    during = traffic.between(began + 1, last_step)
    total = during["1"] + during["2"]
    assert total > 50 and 0.3 < during["2"] / total < 0.7, (during, view["events"])
    # from the 100 % step on (a routing poll later), through the end, only the candidate answers
    after = traffic.between(last_step + 1)
    assert after["2"] > 50 and after["1"] == 0, (after, view["events"])
    assert traffic.between(ended_at)["2"] > 0
    assert httpx.get(f"{srv.url}/model/info", timeout=5).json()["version"] == "2"

    start = {"version": "3", "steps": [50, 100], "step_seconds": 6, "analysis": ANALYSIS}
    r = httpx.post(f"{srv.url}/admin/rollout/start", headers=AUTH, json=start, timeout=30)
    assert r.status_code == 201, r.text
    with Traffic(srv.url):
        view = wait_until_ended(srv, 120)
    assert view["rollout"]["state"] == "rolled_back", view
    assert production_version(reg) == "2"  # the alias never moved
    failed = [e for e in view["events"] if e["kind"] == "analysis" and e["verdict"] == "fail"]
    assert failed, view["events"]
    checks = {c["name"]: c["verdict"] for c in failed[-1]["evidence"]["checks"]}
    assert "fail" in (checks.get("online_accuracy"), checks.get("prediction_shift")), checks
    shown = reg.conveyor("models", "show", "wine", "3", "--json").stdout
    assert "rejected" in shown

    def ended() -> dict[str, float]:
        text = httpx.get(f"{srv.url}/metrics", timeout=5).text
        return {
            s.labels["outcome"]: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "conveyor_rollouts_ended" and s.labels["model"] == "wine"
        }

    deadline = time.monotonic() + 10  # the gauges follow within a routing poll
    while ended().get("rolled_back") != 1.0:
        assert time.monotonic() < deadline, ended()
        time.sleep(0.5)
    assert ended() == {"succeeded": 1.0, "rolled_back": 1.0, "aborted": 0.0}
