"""A connection's sends in flight: several stored at once, a bounded number, in order of arrival."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

# Enough to fill a write group from one fast sender; past it the connection stops reading
# until one completes, so a flood queues in the client's socket, not in this process.
MAX_IN_FLIGHT = 64


class InFlight:
    """Runs a connection's message sends concurrently, at most `limit` at a time.

    Tasks start in the order they are given, so the writes they submit keep that order
    (their seqs follow the order the client sent them in).
    """

    def __init__(self, limit: int = MAX_IN_FLIGHT) -> None:
        self._limit = limit
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()

    @property
    def running(self) -> int:
        """How many are in flight."""
        return len(self._tasks)

    async def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Start `work` as soon as a slot is free; wait (stop reading) while none is."""
        while len(self._tasks) >= self._limit:
            self._freed.clear()
            await self._freed.wait()
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def drain(self) -> None:
        """Wait until everything started so far has finished."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a send failed unexpectedly", exc_info=task.exception())
