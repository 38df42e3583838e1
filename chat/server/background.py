"""The loops a worker runs beside its connections, started and stopped with the worker.

The Redis watcher (chat.broadcast.recovery.watch) catches members up after Redis was away;
the presence heartbeat (chat.presence.services.heartbeat_forever) keeps this worker's
connections present and sweeps those of dead workers; the lease renewal
(chat.limits.connlimits.renew_forever) keeps its connections counted per address; the room
feed (chat.messages.roomqueues.feed_forever) enqueues what rooms bound to queues store. The
scheduler (chat.scheduled.loop) and the presence announcements have their own start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Loop = Callable[[], Coroutine[Any, Any, None]]
# A loop that failed runs again after this: the worker must not go on without it.
RESTART_S = 1.0


def worker_loops() -> dict[str, Loop]:
    """What every worker runs, by task name (imported once Django is set up)."""
    from chat.broadcast import recovery
    from chat.limits import connlimits
    from chat.messages import roomqueues
    from chat.presence import services as presence

    return {
        "chat-redis-watch": recovery.watch,
        "chat-presence-heartbeat": presence.heartbeat_forever,
        "chat-lease-renewal": connlimits.renew_forever,
        "chat-room-queues": roomqueues.feed_forever,
    }


class BackgroundLoops:
    """Named loops started together on the running event loop, each run again when it
    fails, and cancelled together."""

    def __init__(self, loops: dict[str, Loop], *, restart_s: float = RESTART_S) -> None:
        self.loops = loops
        self.restart_s = restart_s
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Start every loop (call once, on the worker's event loop)."""
        loop = asyncio.get_running_loop()
        for name, run in self.loops.items():
            self.tasks[name] = loop.create_task(self._kept(name, run), name=name)

    def stop(self) -> None:
        """Cancel them all: the worker is stopping."""
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()

    async def _kept(self, name: str, run: Loop) -> None:
        while True:
            try:
                await run()
            except Exception:
                log.exception("background loop %s failed; running it again", name)
            else:
                log.warning("background loop %s returned; running it again", name)
            await asyncio.sleep(self.restart_s)
