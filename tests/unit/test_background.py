"""A worker's background loops start together, run again when one fails, and stop together."""

from __future__ import annotations

import asyncio

from chat.server.background import BackgroundLoops, worker_loops


async def test_loops_start_together_a_failed_one_runs_again_and_all_stop_together() -> None:
    runs: list[str] = []
    forever = asyncio.Event()
    failed_twice = asyncio.Event()

    async def steady() -> None:
        runs.append("steady")
        await forever.wait()

    async def failing() -> None:
        runs.append("failing")
        if runs.count("failing") == 2:
            failed_twice.set()
        raise RuntimeError("boom")

    loops = BackgroundLoops({"steady": steady, "failing": failing}, restart_s=0)
    loops.start()
    tasks = dict(loops.tasks)
    await asyncio.wait_for(failed_twice.wait(), 1)  # logged, then run again on its task
    assert runs.count("steady") == 1 and not tasks["failing"].done()
    loops.stop()
    await asyncio.sleep(0)
    assert all(task.cancelled() for task in tasks.values()) and loops.tasks == {}


def test_every_worker_runs_the_watcher_the_heartbeat_the_lease_renewal_and_the_room_feed() -> None:
    assert set(worker_loops()) == {
        "chat-redis-watch",
        "chat-presence-heartbeat",
        "chat-lease-renewal",
        "chat-room-queues",
    }
