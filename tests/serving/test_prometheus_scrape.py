"""A real Prometheus (Debian's binary) scrapes a real two-worker `conveyor serve` under shifted
traffic: the drift gauges reach Prometheus through the multiprocess registry, and our rules file,
loaded by Prometheus itself, puts the data-drift alert in pending."""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import Registered, free_port
from tests.serving.server import running_server, stop
from tests.serving.test_monitoring import wine_rows

pytestmark = pytest.mark.integration

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "conveyor-rules.yml"
PROMETHEUS = shutil.which("prometheus")


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(target_port: int) -> str:
        assert PROMETHEUS is not None
        shutil.copy(RULES, tmp_path / RULES.name)
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{RULES.name}]\n"
            "scrape_configs:\n"
            "  - job_name: conveyor\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        port = free_port()
        with (tmp_path / "prometheus.log").open("wb") as log:  # the child keeps its own copy
            procs.append(
                subprocess.Popen(
                    [
                        PROMETHEUS,
                        f"--config.file={tmp_path / 'prometheus.yml'}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            """Prometheus answers /-/ready"""
            return httpx.get(f"{base}/-/ready", timeout=2).status_code == 200

        eventually(ready, timeout=60)
        return base

    yield start
    for proc in procs:
        stop(proc)  # type: ignore[arg-type]


def query(base: str, promql: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    r.raise_for_status()
    return list(r.json()["data"]["result"])


def eventually(
    check: Callable[[], Any], timeout: float = 90.0, why: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except httpx.HTTPError as exc:  # not listening yet, or 503 while its TSDB starts
            result = exc
        if result and not isinstance(result, Exception):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not true within {timeout:.0f} s: {check.__doc__}; last: {result!r}\n{why()}"
            )
        time.sleep(0.5)


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (install-test-tools.sh)")
def test_prometheus_scrapes_drift_and_pends_the_alert(
    wine_registered: Registered, tmp_path: Path, prometheus_for: Callable[[int], str]
) -> None:
    reg = wine_registered.clone(tmp_path)
    env = {"CONVEYOR_MONITOR_INTERVAL_SECONDS": "1", "CONVEYOR_MONITOR_FLUSH_SECONDS": "0.5"}
    with running_server(reg, "wine", "--workers", "2", env=env) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for row in wine_rows(240, 3, shifted=True):
                assert client.post("/predict", json={"instances": [row]}).status_code == 200
        base = prometheus_for(server.port)

        def drift_seen() -> list[dict[str, Any]]:
            """Prometheus holds conveyor_drift_detected == 1 for wine version 1"""
            return query(base, 'conveyor_drift_detected{model="wine",version="1"} == 1')

        def state() -> str:
            """what Prometheus and the server say, for a failure message"""
            scraped = query(base, 'conveyor_drift_detected or up{job="conveyor"}')
            return f"prometheus: {scraped}\nserver log tail:\n{server.output()[-3000:]}"

        eventually(drift_seen, why=state)
        (up,) = query(base, 'up{job="conveyor"}')
        assert up["value"][1] == "1"
        drifted = query(base, 'conveyor_feature_drifted{model="wine"} == 1')
        assert {"alcohol", "proline"} <= {s["metric"]["feature"] for s in drifted}

        def pending() -> list[dict[str, Any]]:
            """the ConveyorDataDrift alert is pending (its for: has not run out)"""
            r = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()
            return [
                a
                for a in r["data"]["alerts"]
                if a["labels"]["alertname"] == "ConveyorDataDrift" and a["state"] == "pending"
            ]

        (alert,) = eventually(pending, why=state)
        assert alert["labels"]["model"] == "wine" and alert["labels"]["severity"] == "warning"
        rules = httpx.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"]
        health = {r["name"]: r["health"] for g in rules for r in g["rules"]}
        assert health and set(health.values()) == {"ok"}, health


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (install-test-tools.sh)")
def test_the_dashboards_resource_panels_have_data(
    wine_registered: Registered, tmp_path: Path, prometheus_for: Callable[[int], str]
) -> None:
    """Each query of the dashboard's Resources row, as Grafana would send it for model wine,
    answers from a real Prometheus scraping a real (one-process) server: CPU and memory per
    process and per version."""
    from conveyor.deploy import dashboard as dash

    reg = wine_registered.clone(tmp_path)
    resources = [
        expr
        for title, expr in dash.panel_queries(dash.dashboard())
        if title in {"CPU per server process", "Memory per server process", "CPU by version",
                     "Memory by version"}
    ]  # fmt: skip
    assert len(resources) == 4
    with running_server(reg, "wine", "--refresh-seconds", "0") as server:
        base = prometheus_for(server.port)
        for expr in resources:
            promql = (
                expr.replace("$model", "wine").replace("$version", ".*")
                .replace("$__rate_interval", "5s")
            )  # fmt: skip

            def answered(promql: str = promql) -> list[dict[str, Any]]:
                """the panel's query returns series"""
                return query(base, promql)

            (series,) = eventually(answered, why=functools.partial(str, promql))
            value = float(series["value"][1])
            # an idle process may use no CPU over a few seconds; it always holds memory
            assert value > 0 if "memory" in promql else value >= 0, (promql, value)
            if "by (version)" in promql:
                assert series["metric"] == {"version": "1"}
