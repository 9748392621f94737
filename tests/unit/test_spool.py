"""The spool directory and the log writer's policies, with a real ingester and SQLite store."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conveyor.serving.inference_log import InferenceLogWriter, LogUnavailableError, encode
from conveyor.serving.metrics import ServerMetrics
from conveyor.serving.spool import Spool, remove_stale_partials
from conveyor.store.engine import Store
from tests.unit.test_ingest import logged_ids, record


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def make_writer(tmp_path: Path, **options: Any) -> tuple[InferenceLogWriter, Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    writer = InferenceLogWriter(
        url, tmp_path / "spool", ServerMetrics(), capacity=1000, batch=100, **options
    )
    return writer, store


def test_a_deleted_directory_is_created_again_for_the_next_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "o-")
    spool.create()
    spool.write("1", [b"a"])
    shutil.rmtree(spool.directory)
    path = spool.write("2", [b"b", b"c"])
    assert path.read_bytes() == b"b\nc\n"
    assert spool.recreated == 1
    assert [p.name for p in spool.directory.iterdir()] == ["o-2.jsonl"]  # no .tmp left


def test_a_durable_write_leaves_the_same_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "o-", durable=True)
    spool.create()
    assert spool.write("1", [b"x"]).read_bytes() == b"x\n"


def test_stats_and_dropping_the_oldest_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "o-")
    spool.create()
    now = time.time()
    for i, age in enumerate((300, 200, 100)):
        path = spool.write(str(i), [b"r" * 99] * (i + 1))  # 100 bytes a record
        os.utime(path, (now - age, now - age))
    (spool.directory / "o-9.jsonl.tmp").write_bytes(b"partial")  # not a segment yet
    stats = spool.stats(now)
    assert (stats.segments, stats.bytes) == (3, 600)
    assert stats.oldest_age_s == pytest.approx(300, abs=1)
    assert spool.drop_oldest(keep_bytes=350) == (2, 3)  # 100 + 200 bytes, the oldest first
    assert sorted(p.name for p in spool.directory.iterdir()) == ["o-2.jsonl", "o-9.jsonl.tmp"]


def test_partial_segments_of_a_dead_writer_are_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "o-")
    spool.create()
    stale, fresh = spool.directory / "a-1.jsonl.tmp", spool.directory / "b-1.jsonl.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half a reco")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    segment = spool.write("1", [b"x"])
    assert remove_stale_partials(spool.directory, 30) == 1
    assert sorted(spool.directory.iterdir()) == [fresh, segment]


def test_a_large_record_keeps_its_row_count_and_first_rows() -> None:
    rec = record(1)
    rec.rows = 4
    rec.inputs = {"x": np.arange(4.0), "c": np.array(["a", "b", "c", "d"])}
    rec.outputs = {"predictions": np.array([0, 1, 0, 1]), "probabilities": np.eye(4)[:, :2]}
    head, inputs, outputs = encode(rec, max_rows=2).split(b"\t")
    assert b'"rows":4' in head
    assert inputs == b'{"x":[0.0,1.0],"c":["a","b"]}'
    assert outputs == b'{"predictions":[0,1],"probabilities":[[1.0,0.0],[0.0,1.0]]}'
    assert encode(rec, max_rows=4) == encode(rec)


def test_reject_refuses_while_the_spool_cannot_be_written_and_keeps_what_it_took(
    tmp_path: Path,
) -> None:
    writer, store = make_writer(tmp_path)
    writer.start()
    try:
        # the spool's path becomes a file: nothing can be written there
        shutil.rmtree(writer.spool.directory)
        writer.spool.directory.write_bytes(b"")
        writer.submit(record(1))  # taken before the writer noticed
        wait_until(lambda: writer.health()["problems"])
        assert "the spool cannot be written" in writer.health()["problems"][0]
        with pytest.raises(LogUnavailableError, match="cannot be written"):
            writer.submit(record(2))
        assert writer.refused == 1
        writer.spool.directory.unlink()
        writer.spool.create()
        wait_until(lambda: not writer.health()["problems"])
        writer.submit(record(3))
    finally:
        writer.stop()
    assert sorted(logged_ids(store)) == ["r1", "r3"]
    assert writer.dropped == 0


def test_drop_oldest_keeps_answering_while_the_spool_cannot_be_written(tmp_path: Path) -> None:
    writer, store = make_writer(tmp_path, when_full="drop_oldest")
    writer.start()
    try:
        shutil.rmtree(writer.spool.directory)
        writer.spool.directory.write_bytes(b"")
        writer.submit(record(1))
        wait_until(lambda: writer.health()["problems"])
        writer.submit(record(2))  # accepted: kept in memory until the spool works again
        writer.spool.directory.unlink()
        writer.spool.create()
        wait_until(lambda: not writer.health()["problems"])
    finally:
        writer.stop()
    assert sorted(logged_ids(store)) == ["r1", "r2"]


async def test_a_synchronous_submit_completes_once_its_record_is_spooled(tmp_path: Path) -> None:
    writer, store = make_writer(tmp_path, sync=True)
    writer.start()
    try:
        waits = [writer.submit(record(i), wait=True) for i in range(50)]
        assert all(w is not None for w in waits)
        await asyncio.wait_for(asyncio.gather(*waits), 10)  # type: ignore[arg-type]
        assert writer.written == 50
        segments = next(writer._seq)
        assert 1 <= segments < 50  # requests that waited together shared a write
        assert writer.submit(record(99)) is None  # a copy nobody waits for: queued only
    finally:
        await asyncio.to_thread(writer.stop)
    assert len(logged_ids(store)) == 51


def test_a_full_buffer_refuses_under_reject_and_drops_the_oldest_otherwise(
    tmp_path: Path,
) -> None:
    metrics = ServerMetrics()
    for policy in ("reject", "drop_oldest"):
        writer = InferenceLogWriter(
            "sqlite://", tmp_path / policy, metrics, capacity=2, batch=100, when_full=policy
        )
        writer.state = writer.state.RUNNING  # the thread never runs: the buffer only fills
        writer.submit(record(1))
        writer.submit(record(2))
        if policy == "reject":
            with pytest.raises(LogUnavailableError, match="buffer is full"):
                writer.submit(record(3))
            assert writer.refused == 1
        else:
            writer.submit(record(3))
            assert writer.dropped == 1
            assert [b'"r2"' in line for line, _ in writer._pending] == [True, False]
