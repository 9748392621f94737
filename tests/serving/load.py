"""A small bounded load generator on 127.0.0.1 for lifecycle tests."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    request_ids: list[str] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # time.monotonic() each 200 was sent

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    def sent_after(self, moment: float) -> set[str]:
        """Ids of the 200s whose request was sent after ``moment`` (time.monotonic())."""
        return {rid for rid, at in zip(self.request_ids, self.sent_at, strict=True) if at > moment}


async def generate(
    url: str, body: dict[str, Any], concurrency: int, stop: asyncio.Event, max_seconds: float = 60.0
) -> LoadResult:
    """POST ``body`` to ``url`` from ``concurrency`` workers until ``stop`` is set (or time runs out)."""
    result = LoadResult()
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not stop.is_set() and time.monotonic() < deadline:
                sent = time.monotonic()
                try:
                    r = await client.post(url, json=body)
                except httpx.TransportError as exc:
                    result.errors[type(exc).__name__] += 1
                    if stop.is_set():
                        return
                    await asyncio.sleep(0.01)
                    continue
                result.statuses[r.status_code] += 1
                if r.status_code == 200:
                    data = r.json()
                    result.versions[data["model"]["version"]] += 1
                    result.request_ids.append(data["request_id"])
                    result.sent_at.append(sent)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result
