"""When a model taken out of service may stop: once no request that could hold it is running.

A prediction request takes its model early (decoding reads that model's schema) and calls it
later, after awaits in between: a feature-store lookup, decoding off the event loop. A swap in
that gap must not stop the old model under it. Requests count themselves in by *epoch*; taking a
model out of service starts a new epoch and waits until every request of the earlier ones has
finished (a grace period, as read-copy-update has), bounded so a stuck client cannot hold a
retired model forever. Everything here runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class InFlight:
    """Prediction requests in flight, by the epoch each began in."""

    def __init__(self) -> None:
        self._epoch = 0
        self._running: Counter[int] = Counter()
        self._waiters: list[asyncio.Event] = []

    @property
    def running(self) -> int:
        return sum(self._running.values())

    def enter(self) -> int:
        """Count one request in; hand the returned epoch to ``leave``."""
        self._running[self._epoch] += 1
        return self._epoch

    def leave(self, epoch: int) -> None:
        self._running[epoch] -= 1
        if self._running[epoch] <= 0:
            del self._running[epoch]
            for waiter in self._waiters:
                waiter.set()

    @contextmanager
    def request(self) -> Iterator[None]:
        """The span in which a request may hold a model it took."""
        epoch = self.enter()
        try:
            yield
        finally:
            self.leave(epoch)

    async def grace(self, timeout: float) -> bool:
        """Start a new epoch and wait until no request begun before it is running; False if
        ``timeout`` seconds passed first (the caller goes on: a retired model then fails the
        stragglers with a 503 rather than being held forever)."""
        before = self._epoch
        self._epoch += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(epoch <= before for epoch in self._running):
            left = deadline - loop.time()
            if left <= 0:
                stuck = sum(n for epoch, n in self._running.items() if epoch <= before)
                log.warning("retiring a model with %d request(s) still holding it", stuck)
                return False
            woken = asyncio.Event()
            self._waiters.append(woken)
            try:
                await asyncio.wait_for(woken.wait(), left)
            except TimeoutError:
                pass
            finally:
                self._waiters.remove(woken)
        return True
