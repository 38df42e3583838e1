"""Announcements held for a moment per key, then sent together: one publish instead of many.

`Coalescer(send, delay=...)`: `add(key, item)` queues an item; the first item of a key starts
a timer of `delay(key)` seconds, after which one call of `send(key, items)` gets everything
queued for that key meanwhile, in order. The delay may grow with the cost of one send (a room
with more members), so a storm of announcements costs a bounded number of sends per second
whatever its size. `hurry()` sends everything now and from then on without delay (a worker
shutting down), and `idle` says when nothing is waiting or being sent.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass
class _State(Generic[K, T]):
    """One event loop's waiting items per key, and its sends under way."""

    waiting: dict[K, list[T]] = field(default_factory=dict)
    sending: set[asyncio.Task[None]] = field(default_factory=set)
    hurried: bool = False


class Coalescer(Generic[K, T]):
    """Per key, items added within `delay(key)` of the first go out in one `send`."""

    def __init__(
        self, send: Callable[[K, list[T]], Awaitable[None]], *, delay: Callable[[K], float]
    ) -> None:
        self._send = send
        self._delay = delay
        # Timers and tasks belong to one loop; tests (and syncbridge) run several in turn.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _State[K, T]] = (
            weakref.WeakKeyDictionary()
        )

    def _state(self) -> tuple[asyncio.AbstractEventLoop, _State[K, T]]:
        loop = asyncio.get_running_loop()
        return loop, self._loops.setdefault(loop, _State())

    @property
    def idle(self) -> bool:
        """True when nothing waits to be sent and no send is running (on this loop)."""
        _, state = self._state()
        return not state.waiting and not state.sending

    def add(self, key: K, item: T) -> None:
        """Queue `item` for `key`; it goes out with the others of this key when their time is up."""
        loop, state = self._state()
        items = state.waiting.get(key)
        if items is not None:
            items.append(item)
            return
        state.waiting[key] = [item]
        delay = 0.0 if state.hurried else self._delay(key)
        loop.call_later(delay, self._due, loop, state, key)

    def hurry(self) -> None:
        """Send what waits now, and whatever comes later at once."""
        loop, state = self._state()
        state.hurried = True
        for key in list(state.waiting):
            self._due(loop, state, key)

    def _due(self, loop: asyncio.AbstractEventLoop, state: _State[K, T], key: K) -> None:
        items = state.waiting.pop(key, None)
        if items is None:  # sent already by hurry()
            return
        task = loop.create_task(self._send_logged(key, items))
        state.sending.add(task)
        task.add_done_callback(state.sending.discard)

    async def _send_logged(self, key: K, items: list[T]) -> None:
        try:
            await self._send(key, items)
        except Exception as exc:  # an announcement is best effort; the next one still goes
            log.info("%d announcements for %r not sent: %s", len(items), key, exc)
