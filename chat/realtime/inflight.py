"""A connection's work in flight: its sends stored several at once, its slow reads beside
them; a bounded number of each, started in order of arrival."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

log = logging.getLogger(__name__)

# Enough to fill a write group from one fast sender; past it the connection stops reading
# until one completes, so a flood queues in the client's socket, not in this process.
MAX_IN_FLIGHT = 64


class InFlight:
    """Runs a connection's tasks of one kind concurrently, at most `limit` at a time.

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

    def started(self) -> list[asyncio.Task[None]]:
        """What is in flight now (to wait for later with `finished`)."""
        return list(self._tasks)

    @staticmethod
    async def finished(tasks: Sequence[asyncio.Task[None]]) -> None:
        """Wait until these have finished, not what started after them."""
        if tasks:
            await asyncio.wait(tasks)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a connection's task failed unexpectedly", exc_info=task.exception())
