"""InFlight: a grace period waits for the requests begun before it, and only those."""

from __future__ import annotations

import asyncio

from conveyor.serving.inflight import InFlight


async def test_grace_waits_for_earlier_requests_only() -> None:
    inflight = InFlight()
    earlier = inflight.enter()
    grace = asyncio.create_task(inflight.grace(timeout=10))
    await asyncio.sleep(0.05)
    later = inflight.enter()  # begun after the grace started: it cannot hold what retires
    await asyncio.sleep(0.05)
    assert not grace.done()
    inflight.leave(earlier)
    assert await asyncio.wait_for(grace, 1) is True
    assert inflight.running == 1
    inflight.leave(later)
    assert inflight.running == 0


async def test_grace_with_nothing_running_returns_at_once() -> None:
    inflight = InFlight()
    with inflight.request():
        pass
    assert await asyncio.wait_for(inflight.grace(timeout=10), 1) is True


async def test_grace_gives_up_after_its_timeout() -> None:
    inflight = InFlight()
    with inflight.request():
        assert await inflight.grace(timeout=0.05) is False
    assert inflight.running == 0


async def test_two_graces_wait_for_their_own_epochs() -> None:
    inflight = InFlight()
    first = inflight.enter()
    one = asyncio.create_task(inflight.grace(timeout=10))
    await asyncio.sleep(0.01)
    second = inflight.enter()
    two = asyncio.create_task(inflight.grace(timeout=10))
    await asyncio.sleep(0.01)
    inflight.leave(second)
    await asyncio.sleep(0.01)
    assert not one.done() and not two.done()  # two waits for first as well
    inflight.leave(first)
    assert await asyncio.wait_for(one, 1) is True
    assert await asyncio.wait_for(two, 1) is True
