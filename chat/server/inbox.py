"""Inbox: a WebSocket's input queue, for its one reader, in a fraction of asyncio.Queue's memory.

daphne gives every connection an `asyncio.Queue`: four deques (its items, getters, putters
and its `join()` event's waiters) of 760 bytes each, about 3 KB per idle socket. A
connection's queue has one reader (its application, through `get`), is never bounded and
is never joined, so a list and at most one waiting future do (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

# Taken slots a never-empty inbox keeps before it drops them.
_COMPACT_AFTER = 64


class Inbox:
    """Events in arrival order; `put_nowait` from anywhere on the loop, `get` by one reader.

    No `__len__`: daphne tests a connection's queue for truth (`if self.application_queue`)
    before it reports a disconnect, so an empty inbox must still be true.
    """

    __slots__ = ("_items", "_next", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._next = 0  # index of the oldest event not yet taken
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def qsize(self) -> int:
        return len(self._items) - self._next

    def empty(self) -> bool:
        return self.qsize() == 0

    async def get(self) -> Any:
        """The oldest event, waiting for one if there is none; for one reader at a time."""
        while self._next == len(self._items):
            if self._waiter is not None:
                raise RuntimeError("Inbox.get is already awaited by another reader")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items = self._items
        item = items[self._next]
        items[self._next] = None  # the reader holds it now; the list must not
        self._next += 1
        if self._next == len(items):
            items.clear()
            self._next = 0
        elif self._next >= _COMPACT_AFTER and self._next * 2 >= len(items):
            # Never drained under steady load: drop the taken slots, amortised O(1) per get.
            del items[: self._next]
            self._next = 0
        return item
