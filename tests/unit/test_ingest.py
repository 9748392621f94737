"""The inference-log spool and its ingester, against a real SQLite store."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from conveyor.serving.inference_log import InferenceLogWriter, Record, encode
from conveyor.serving.ingest import (
    IngestConfig,
    Ingester,
    ingest_segment,
    pending_segments,
    prune,
)
from conveyor.serving.metrics import ServerMetrics
from conveyor.serving.spool import Spool
from conveyor.serving.supervisor import IngesterProcess
from conveyor.store.engine import Store
from conveyor.store.tables import feedback, inference_log, inference_log_segments


def record(i: int, at: datetime | None = None) -> Record:
    return Record(
        request_id=f"r{i}",
        at=at or datetime.now(UTC),
        model="wine",
        version="1",
        arm="production",
        rows=2,
        inputs={"alcohol": np.array([13.0 + i, 12.5]), "color": np.array(["red", "white"])},
        outputs={"predictions": np.array([0, 1])},
        latency_ms=1.5,
        status=200,
    )


def writer(tmp_path: Path, store_url: str, batch: int = 3) -> InferenceLogWriter:
    return InferenceLogWriter(
        store_url, tmp_path / "spool", ServerMetrics(), capacity=1000, batch=batch
    )


def logged_ids(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(inference_log.c.request_id)).scalars())


def test_writer_spools_and_the_ingester_process_stores_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    w = writer(tmp_path, url)
    w.start()
    for i in range(10):
        w.submit(record(i))
    w.stop()
    assert w.written == 10 and w.dropped == 0
    assert sorted(logged_ids(store)) == sorted(f"r{i}" for i in range(10))
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(inference_log).where(inference_log.c.request_id == "r3"))
        first = row.mappings().one()
        segments = conn.execute(sa.select(sa.func.count()).select_from(inference_log_segments))
        assert segments.scalar() == 4  # 10 records in segments of at most 3
    assert first["inputs"] == {"alcohol": [16.0, 12.5], "color": ["red", "white"]}
    assert first["outputs"] == {"predictions": [0, 1]}
    assert first["at"].replace(tzinfo=UTC) <= datetime.now(UTC)
    assert list((tmp_path / "spool").iterdir()) == []  # every segment consumed


def test_a_segment_is_ingested_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    w = writer(tmp_path, url)
    w.spool.create()
    w.spool.write("0000000000", [encode(record(1)), encode(record(2))])
    (segment,) = w.spool.directory.iterdir()
    content = segment.read_bytes()
    assert ingest_segment(store, segment) == 2
    # the ingester died after committing, before deleting: the file comes back
    segment.write_bytes(content)
    assert ingest_segment(store, segment) == 0
    assert not segment.exists()
    assert sorted(logged_ids(store)) == ["r1", "r2"]


def test_racing_ingesters_store_each_record_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url).create().close()
    w = writer(tmp_path, url, batch=5)
    w.spool.create()
    for start in range(0, 200, 5):
        w.spool.write(f"{start:010d}", [encode(record(i)) for i in range(start, start + 5)])
    config = IngestConfig(store_url=url, spool=w.spool.directory, owner=w.owner)
    stores = [Store(url).create() for _ in range(3)]
    threads = [threading.Thread(target=Ingester(config, s).drain) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = logged_ids(stores[0])
    assert len(ids) == 200 and len(set(ids)) == 200


def test_other_owners_segments_are_adopted_only_when_orphaned(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    mine = spool / "111-aaaaaa-0000000000.jsonl"
    sibling = spool / "222-bbbbbb-0000000000.jsonl"
    orphan = spool / "333-cccccc-0000000000.jsonl"
    partial = spool / "111-aaaaaa-0000000001.jsonl.tmp"
    for path in (mine, sibling, orphan, partial):
        path.write_bytes(b"")
    old = time.time() - 120
    os.utime(orphan, (old, old))
    config = IngestConfig(store_url="", spool=spool, owner="111-aaaaaa-", orphan_after_s=30)
    assert pending_segments(config) == [mine, orphan]
    # the final drain at shutdown takes only this server's own segments
    assert pending_segments(config, final=True) == [mine]


def test_an_unreadable_segment_is_set_aside_and_the_rest_ingested(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    w = writer(tmp_path, url)
    w.spool.create()
    bad = w.spool.directory / f"{w.owner}0000000000.jsonl"
    bad.write_bytes(b'{"request_id": "x"\n')
    w.spool.write("0000000001", [encode(record(7))])
    config = IngestConfig(store_url=url, spool=w.spool.directory, owner=w.owner)
    assert Ingester(config, store).drain() == 1
    assert logged_ids(store) == ["r7"]
    assert (w.spool.directory / (bad.name + ".bad")).exists()


def test_segments_wait_on_disk_while_the_store_is_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    w = writer(tmp_path, url)
    w.spool.create()
    w.spool.write("0000000000", [encode(record(1))])
    down = Store("postgresql+psycopg://nobody@127.0.0.1:9/none")
    down._engine = sa.create_engine(down.url, poolclass=NullPool)
    config = IngestConfig(store_url=url, spool=w.spool.directory, owner=w.owner)
    stop = threading.Event()
    stop.set()
    Ingester(config, down).run(stop)  # a final drain that cannot reach the store
    assert len(list(w.spool.directory.iterdir())) == 1
    assert Ingester(config, store).drain() == 1  # the store is back
    assert logged_ids(store) == ["r1"]


def test_retention_removes_old_rows_only(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}").create()
    now = datetime.now(UTC)
    ages = [0, 1, 9, 11, 40]
    with store.engine.begin() as conn:
        conn.execute(
            inference_log.insert(),
            [
                {
                    **{k: v for k, v in record(i).__dict__.items() if k != "at"},
                    "inputs": {},
                    "outputs": {},
                    "at": now - timedelta(days=age),
                }
                for i, age in enumerate(ages)
            ],
        )
        conn.execute(
            feedback.insert(),
            [
                {"request_id": f"r{i}", "row": 0, "at": now - timedelta(days=a), "label": 1}
                for i, a in enumerate(ages)
            ],
        )
    assert prune(store, 0) == 0
    assert prune(store, 10, now=now) == 4
    assert sorted(logged_ids(store)) == ["r0", "r1", "r2"]
    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(feedback.c.request_id)).scalars().all()
    assert sorted(kept) == ["r0", "r1", "r2"]


def supervised(tmp_path: Path) -> tuple[IngesterProcess, Spool, Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    spool = Spool(tmp_path / "spool", "111-aaaaaa-")
    spool.create()
    config = IngestConfig(store_url=url, spool=spool.directory, owner=spool.owner, interval_s=0.1)
    return IngesterProcess(config, ServerMetrics(), min_backoff_s=0.2), spool, store


def wait_until(check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_killed_ingester_is_started_again_after_a_growing_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ingester, spool, store = supervised(tmp_path)
    ingester.start()
    try:
        for round_, backoff in enumerate((0.2, 0.4), start=1):
            pid = ingester.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not ingester.up)
            now = time.monotonic()
            ingester.tick(now)
            assert f"(pid {pid}) exited with signal SIGKILL; starting a new one in {backoff} s" in (
                caplog.text
            )
            ingester.tick(now + backoff / 2)
            assert not ingester.up  # still waiting out the backoff
            ingester.tick(now + backoff)
            assert ingester.up and ingester.pid != pid and ingester.restarts == round_
        spool.write("0000000001", [encode(record(1))])
        wait_until(lambda: logged_ids(store) == ["r1"])
    finally:
        ingester.stop(30)
    assert not ingester.up


def test_stopping_after_the_ingester_died_still_drains_the_spool(tmp_path: Path) -> None:
    ingester, spool, store = supervised(tmp_path)
    ingester.start()
    pid = ingester.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not ingester.up)
    spool.write("0000000001", [encode(record(1)), encode(record(2))])
    ingester.stop(30)  # a new ingester for the final drain
    assert sorted(logged_ids(store)) == ["r1", "r2"]
