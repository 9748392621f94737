"""`POST /feedback` against a real `conveyor serve`: a store that goes away answers 503 with
Retry-After and X-Request-ID (PostgreSQL behind a TCP proxy the test stops), a batch of the
maximum size joins whole while /predict keeps answering, and with two workers every label
joins its prediction whichever worker answered it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from conveyor.store.tables import feedback, feedback_pending
from tests.integration.test_postgres import postgres_database
from tests.serving.conftest import Registered
from tests.serving.server import Server, running_server
from tests.tcp_proxy import TcpProxy


def wine_rows(n: int) -> list[list[float]]:
    from sklearn.datasets import load_wine

    data = load_wine().data
    return [data[i % len(data)].tolist() for i in range(n)]


def predict(server: Server, rows: list[list[float]]) -> str:
    r = httpx.post(f"{server.url}/predict", json={"features": rows}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["request_id"])


def stored(url: str, table: sa.Table) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_a_store_outage_answers_503_with_retry_after_and_the_request_id(
    wine_registered: Registered, tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    with postgres_database("conveyor_fb") as url:
        target = sa.engine.make_url(url)
        proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
        proxied = target.set(host="127.0.0.1", port=proxy.port)
        env = {"CONVEYOR_STORE_URL": proxied.render_as_string(hide_password=False)}
        try:
            with running_server(reg, "wine", "--refresh-seconds", "0", env=env) as server:
                rid = predict(server, wine_rows(1))
                proxy.stop()  # the store goes away
                for body in (
                    {"request_id": rid, "label": 0},  # answered by this process
                    {"feedback": [{"request_id": "never-predicted", "label": 0}]},
                ):
                    r = httpx.post(
                        f"{server.url}/feedback",
                        json=body,
                        headers={"X-Request-ID": "label-during-outage"},
                        timeout=30,
                    )
                    assert r.status_code == 503, r.text
                    assert int(r.headers["retry-after"]) >= 1
                    assert r.headers["x-request-id"] == "label-during-outage"
                    answer = r.json()
                    assert "store is unreachable" in answer["error"]
                    assert answer["request_id"] == "label-during-outage"
                proxy.start()  # back: the next label is stored
                r = httpx.post(
                    f"{server.url}/feedback", json={"request_id": rid, "label": 0}, timeout=30
                )
                assert r.status_code == 200, r.text
                assert r.json()["joined"] == 1
            assert stored(url, feedback) == 1
        finally:
            proxy.stop()


class Probe(threading.Thread):
    """1-row /predict requests back to back until told to stop."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.statuses: list[int] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.halt.is_set():
                r = client.post(f"{self.url}/predict", json={"features": wine_rows(1)})
                self.statuses.append(r.status_code)


def test_a_batch_of_the_maximum_size_joins_whole_and_one_more_is_refused(
    wine_registered: Registered, tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    limit = 5_000
    env = {"CONVEYOR_FEEDBACK_MAX_ITEMS": str(limit)}
    with running_server(reg, "wine", "--refresh-seconds", "0", env=env) as server:
        labels: list[dict[str, Any]] = []
        for _ in range(limit // 1000):
            rid = predict(server, wine_rows(1000))
            labels += [{"request_id": rid, "row": i, "label": i % 3} for i in range(1000)]
        probe = Probe(server.url)
        probe.start()
        r = httpx.post(f"{server.url}/feedback", json={"feedback": labels}, timeout=120)
        probe.halt.set()
        probe.join(60)
        assert r.status_code == 200, r.text
        assert r.json()["joined"] == limit
        assert probe.statuses and set(probe.statuses) == {200}
        extra = [*labels, labels[0]]
        r = httpx.post(f"{server.url}/feedback", json={"feedback": extra}, timeout=120)
        assert r.status_code == 413
        assert str(limit) in r.json()["problems"][0]["msg"]
    assert stored(f"sqlite:///{reg.home / 'conveyor.db'}", feedback) == limit


def test_with_two_workers_every_label_joins_whichever_worker_answered(
    wine_registered: Registered, tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    count = 40
    with running_server(reg, "wine", "--workers", "2", "--refresh-seconds", "0") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(count):  # each label sent at once, on a new connection
                rid = client.post("/predict", json={"features": wine_rows(1)}).json()["request_id"]
                r = httpx.post(
                    f"{server.url}/feedback", json={"request_id": rid, "label": 1}, timeout=30
                )
                answer = r.json()
                assert answer["accepted"] == 1 and answer["rejected"] == 0, answer
        db = f"sqlite:///{reg.home / 'conveyor.db'}"
        deadline = time.monotonic() + 60  # held labels join as the ingesters log predictions
        while stored(db, feedback) < count:
            assert time.monotonic() < deadline, (stored(db, feedback), stored(db, feedback_pending))
            time.sleep(0.2)
        assert stored(db, feedback_pending) == 0
