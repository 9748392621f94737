"""Adaptive micro-batching: concurrent requests for one model merge into one runtime call.

There is no fixed wait: the first request of a batch goes as soon as the runtime is free, and
whatever queued meanwhile (up to ``max_rows``) goes together next time. Under light load a
request runs alone at once; under heavy load batches grow by themselves. An optional
``max_wait_s`` trades a little latency for bigger batches. A full queue sheds load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.errors import ServiceUnavailableError
from conveyor.serving.lifecycle import WorkerState

if TYPE_CHECKING:
    import numpy as np

    from conveyor.bundle.runtime import Columns, Output, Runtime


class Overloaded(ServiceUnavailableError):
    """The batch queue is full; the client should retry after ``retry_after`` seconds."""

    retry_after = 1


@dataclass
class _Item:
    columns: Columns
    rows: int
    future: asyncio.Future[Output]


class MicroBatcher:
    """One batching loop in front of one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        max_rows: int = 256,
        max_wait_s: float = 0.0,
        max_queue: int = 2048,
        on_batch: Callable[[int], None] | None = None,
        observe: Callable[[Columns, np.ndarray], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.observe = observe  # (columns, predictions) of every successful model call
        self.state = WorkerState.NEW
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue(self.max_queue)
        self._task = asyncio.create_task(self._loop(), name="conveyor-batcher")
        self.state = WorkerState.RUNNING

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None or self._queue is None:
            return
        self.state = WorkerState.STOPPED
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def submit(self, columns: Columns, rows: int) -> Output:
        if self._queue is None or self.state is not WorkerState.RUNNING:
            raise ServiceUnavailableError("the model is not accepting requests")
        future: asyncio.Future[Output] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Item(columns, rows, future))
        except asyncio.QueueFull:
            raise Overloaded("the server is at capacity; retry shortly") from None
        return await future

    async def _loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            first = await queue.get()
            batch = [first]
            rows = first.rows
            while rows < self.max_rows and not queue.empty():
                item = queue.get_nowait()
                batch.append(item)
                rows += item.rows
            if self.max_wait_s > 0 and rows < self.max_rows:
                deadline = asyncio.get_running_loop().time() + self.max_wait_s
                while rows < self.max_rows:
                    timeout = deadline - asyncio.get_running_loop().time()
                    if timeout <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), timeout)
                    except TimeoutError:
                        break
                    batch.append(item)
                    rows += item.rows
            self._run(batch, rows)
            for _ in batch:
                queue.task_done()

    def _run(self, batch: list[_Item], rows: int) -> None:
        import numpy as np

        if self.on_batch is not None:
            self.on_batch(rows)
        try:
            if len(batch) == 1:
                merged = batch[0].columns
            else:
                names = batch[0].columns.keys()
                merged = {n: np.concatenate([b.columns[n] for b in batch]) for n in names}
            output = self.runtime.predict(merged, rows)
        except Exception as exc:  # a runtime failure fails this batch, never the loop
            if len(batch) > 1:  # alone, each request gets its own answer: one bad row fails one
                for item in batch:
                    self._run([item], item.rows)
                return
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        if self.observe is not None:
            self.observe(merged, output.predictions)
        start = 0
        from conveyor.bundle.runtime import Output

        for item in batch:
            end = start + item.rows
            part = Output(
                output.predictions[start:end],
                output.probabilities[start:end] if output.probabilities is not None else None,
            )
            start = end
            if not item.future.done():
                item.future.set_result(part)
