"""Micro-batching with a fake runtime (our own seam): merging, splitting, shedding, failures."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from conveyor.bundle.runtime import Columns, Output
from conveyor.serving.batcher import MicroBatcher, Overloaded


class EchoRuntime:
    """Predicts each row's ``x``; records the batch sizes it was called with."""

    name = "fake"

    def __init__(self, delay: float = 0.0, fail_on: float | None = None) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.fail_on = fail_on
        self.gate = threading.Event()

    def predict(self, columns: Columns, rows: int) -> Output:
        self.calls.append(rows)
        if self.delay:
            import time

            time.sleep(self.delay)
        x = columns["x"]
        if self.fail_on is not None and (x == self.fail_on).any():
            raise RuntimeError("model exploded")
        return Output(x * 2, np.stack([x, -x], axis=1))


def cols(*values: float) -> Columns:
    return {"x": np.asarray(values, dtype=np.float64)}


async def test_concurrent_requests_merge_and_split_back() -> None:
    runtime = EchoRuntime(delay=0.01)
    batcher = MicroBatcher(runtime, max_rows=100)
    await batcher.start()
    results = await asyncio.gather(*(batcher.submit(cols(i, i + 0.5), 2) for i in range(20)))
    await batcher.stop()
    for i, out in enumerate(results):
        assert out.predictions.tolist() == [2 * i, 2 * i + 1]
        assert out.probabilities is not None and out.probabilities[:, 1].tolist() == [-i, -i - 0.5]
    assert sum(runtime.calls) == 40
    assert max(runtime.calls) > 2  # requests queued behind the first call were merged


async def test_max_rows_bounds_a_batch() -> None:
    runtime = EchoRuntime(delay=0.005)
    batcher = MicroBatcher(runtime, max_rows=4)
    await batcher.start()
    await asyncio.gather(*(batcher.submit(cols(i), 1) for i in range(30)))
    await batcher.stop()
    assert max(runtime.calls) <= 4
    assert sum(runtime.calls) == 30


async def test_full_queue_sheds_load() -> None:
    runtime = EchoRuntime(delay=0.05)
    batcher = MicroBatcher(runtime, max_rows=1, max_queue=2)
    await batcher.start()
    outcomes = await asyncio.gather(
        *(batcher.submit(cols(i), 1) for i in range(10)), return_exceptions=True
    )
    await batcher.stop()
    shed = [o for o in outcomes if isinstance(o, Overloaded)]
    served = [o for o in outcomes if isinstance(o, Output)]
    assert shed and served
    assert len(shed) + len(served) == 10


async def test_a_failing_batch_fails_only_its_requests() -> None:
    runtime = EchoRuntime(fail_on=13.0)
    batcher = MicroBatcher(runtime, max_rows=1)
    await batcher.start()
    bad = batcher.submit(cols(13.0), 1)
    with pytest.raises(RuntimeError, match="exploded"):
        await bad
    good = await batcher.submit(cols(1.0), 1)
    await batcher.stop()
    assert good.predictions.tolist() == [2.0]


async def test_stop_drains_the_queue() -> None:
    runtime = EchoRuntime(delay=0.01)
    batcher = MicroBatcher(runtime, max_rows=1)
    await batcher.start()
    pending = [asyncio.ensure_future(batcher.submit(cols(i), 1)) for i in range(5)]
    await asyncio.sleep(0)
    await batcher.stop()
    assert [p.result().predictions.tolist() for p in pending] == [[2 * i] for i in range(5)]
