"""A connection's tasks in flight: bounded, started in order, waited for on demand."""

from __future__ import annotations

import asyncio

from chat.realtime.inflight import InFlight


async def test_work_starts_in_order_and_at_most_limit_run_at_once() -> None:
    """The third start waits until one of the first two finishes."""
    inflight = InFlight(limit=2)
    gate = asyncio.Event()
    started: list[int] = []

    async def work(n: int) -> None:
        started.append(n)
        await gate.wait()

    await inflight.start(work(1))
    await inflight.start(work(2))
    third = asyncio.ensure_future(inflight.start(work(3)))
    await asyncio.sleep(0.01)
    assert started == [1, 2] and not third.done()
    gate.set()
    await asyncio.wait_for(third, 1)
    await asyncio.wait_for(InFlight.finished(inflight.started()), 1)
    assert started == [1, 2, 3] and inflight.running == 0


async def test_finished_waits_for_what_was_started_not_for_what_came_after() -> None:
    """A read waits for the sends before it; a send started later does not hold it up."""
    inflight = InFlight(limit=10)
    done: list[int] = []
    later = asyncio.Event()

    async def work(n: int) -> None:
        await asyncio.sleep(0.01 * n)
        done.append(n)

    async def slow() -> None:
        await later.wait()

    for n in (3, 1, 2):
        await inflight.start(work(n))
    earlier = inflight.started()
    await inflight.start(slow())
    await asyncio.wait_for(InFlight.finished(earlier), 1)
    assert sorted(done) == [1, 2, 3] and inflight.running == 1
    later.set()


async def test_a_failing_piece_of_work_frees_its_slot() -> None:
    """An unexpected error is logged, not fatal: the slot comes back."""
    inflight = InFlight(limit=1)

    async def boom() -> None:
        raise RuntimeError("bug")

    async def fine() -> None:
        return None

    await inflight.start(boom())
    await asyncio.wait_for(inflight.start(fine()), 1)
    await asyncio.wait_for(InFlight.finished(inflight.started()), 1)
    assert inflight.running == 0
