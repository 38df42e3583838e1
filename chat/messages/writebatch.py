"""Group commit: writes that arrive together, or while the previous write is in flight, share one.

`WriteGroups(flush, then=...)` hands each caller its own outcome: `await groups.submit(key,
item)` returns (or raises) what `flush(key, items)` produced for that item; `then(key,
outcomes)` runs after the callers have their outcomes (a broadcast of what was written); one
that raises is logged, and the key's next group goes on.
Per key, one flush runs at a time; nothing waits for a timer, so an idle key flushes at
once, and under load the groups grow by themselves to what arrived during the last flush.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

# Far above what a flush sees under the heaviest benchmark; bounds one insert's size.
MAX_GROUP = 1000

Flush = Callable[[K, list[T]], Awaitable[Sequence[R | BaseException]]]
Then = Callable[[K, Sequence[R | BaseException]], Awaitable[None]]


@dataclass
class _Queues(Generic[K, T, R]):
    """One event loop's waiting items per key, and the keys being flushed."""

    waiting: dict[K, list[tuple[T, asyncio.Future[R]]]] = field(default_factory=dict)
    flushing: dict[K, asyncio.Task[None]] = field(default_factory=dict)


class WriteGroups(Generic[K, T, R]):
    """Coalesces concurrent submissions per key into calls of `flush`, in submission order."""

    def __init__(
        self, flush: Flush[K, T, R], *, then: Then[K, R] | None = None, max_group: int = MAX_GROUP
    ) -> None:
        self._flush = flush
        self._then = then
        self._max_group = max_group
        # Futures belong to one loop; tests (and syncbridge) run several loops in turn.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queues[K, T, R]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, key: K, item: T) -> R:
        """Write `item` with whatever else is waiting for `key`; return its own outcome."""
        loop = asyncio.get_running_loop()
        queues = self._loops.setdefault(loop, _Queues())
        future: asyncio.Future[R] = loop.create_future()
        queues.waiting.setdefault(key, []).append((item, future))
        if key not in queues.flushing:
            queues.flushing[key] = loop.create_task(self._drain(queues, key))
        return await future

    async def _drain(self, queues: _Queues[K, T, R], key: K) -> None:
        try:
            while waiting := queues.waiting.pop(key, None):
                group, rest = waiting[: self._max_group], waiting[self._max_group :]
                if rest:
                    queues.waiting[key] = rest
                # A caller that gave up (timed out) before its turn is not written at all.
                group = [(item, future) for item, future in group if not future.done()]
                if not group:
                    continue
                try:
                    await self._run(key, group)
                except Exception as exc:
                    # Most likely `then`. The items queued behind this group must not wait for
                    # a submit that may never come, nor may a caller of this one wait forever.
                    log.exception("write group for %r failed", key)
                    _answer(group, [exc] * len(group))
        finally:
            del queues.flushing[key]

    async def _run(self, key: K, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes: Sequence[R | BaseException] = await self._flush(
                key, [item for item, _ in group]
            )
        except Exception as exc:  # the whole flush failed: every caller in it gets the error
            outcomes = [exc] * len(group)
        _answer(group, outcomes)
        if self._then is not None:
            # Still this key's turn: the next group waits, so what `then` sends keeps order.
            await self._then(key, outcomes)


def _answer(
    group: list[tuple[T, asyncio.Future[R]]], outcomes: Sequence[R | BaseException]
) -> None:
    """Hand each caller still waiting its own outcome, raised if it is an exception."""
    for (_, future), outcome in zip(group, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
