"""A worker's background loops start together, restart when one ended, and stop together."""

from __future__ import annotations

import asyncio

from chat.server.background import BackgroundLoops, worker_loops


async def test_loops_start_once_restart_when_ended_and_stop_together() -> None:
    runs: list[str] = []
    forever = asyncio.Event()

    async def steady() -> None:
        runs.append("steady")
        await forever.wait()

    async def failing() -> None:
        runs.append("failing")
        raise RuntimeError("boom")

    loops = BackgroundLoops({"steady": steady, "failing": failing})
    loops.start()
    loops.start()  # nothing new: both are running or about to
    await asyncio.sleep(0)
    assert sorted(runs) == ["failing", "steady"]
    tasks = dict(loops.tasks)
    assert tasks["failing"].done() and tasks["failing"].exception() is None  # logged, ended
    loops.start()  # the ended one starts again, the running one stays
    await asyncio.sleep(0)
    assert runs.count("failing") == 2 and runs.count("steady") == 1
    assert loops.tasks["steady"] is tasks["steady"]
    loops.stop()
    await asyncio.sleep(0)
    assert tasks["steady"].cancelled() and loops.tasks == {}


def test_every_worker_runs_the_watcher_the_heartbeat_and_the_lease_renewal() -> None:
    assert set(worker_loops()) == {
        "chat-redis-watch",
        "chat-presence-heartbeat",
        "chat-lease-renewal",
    }
