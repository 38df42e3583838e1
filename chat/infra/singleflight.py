"""Concurrent callers asking for the same thing share one call in flight (per event loop).

A burst of identical reads (every member of a room resuming after a restart, every sender
of a room after Redis lost its counter) would otherwise become one store scan each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    """`await flights.run(key, make)`: `make()` once for everyone waiting on `key` meanwhile."""

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[T]] = {}

    async def run(self, key: K, make: Callable[[], Awaitable[T]]) -> T:
        call = self._calls.get(key)
        if call is None or call.get_loop() is not asyncio.get_running_loop():
            call = asyncio.ensure_future(make())
            self._calls[key] = call
            call.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: a waiter that times out must not cancel the call the others wait for.
        return await asyncio.shield(call)

    def _forget(self, key: K, done: asyncio.Future[T]) -> None:
        if self._calls.get(key) is done:
            del self._calls[key]
