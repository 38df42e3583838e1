"""Room-bound queues: every message stored in a room after binding goes to the queue once,
in seq order, whichever worker stored it and even if that worker died right after.

The feed reads the store (the source of truth) by seq from where each queue was fed up to,
and enqueues with a compare-and-set of that seq (chat.queues.registry.feed), so any number
of workers may feed the same queue: each message is enqueued by exactly one of them. A seq
that holds no message stops the feed until it is known to stay empty: marked unused where
it was given up (`mark_unused`), or older than CHAT_QUEUE_ROOM_GAP_S behind a stored later
one (a worker that died between taking a seq and storing it).

Keys: chat:roomfeed:{<room>}:unused ZSET of seqs taken and never stored (expires in a day).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from datetime import UTC, datetime, timedelta

from django.conf import settings

from chat.infra import retryloop
from chat.infra.clients import redis
from chat.messages import pages, sequencing
from chat.queues import registry, services
from chat.queues.registry import QueueConfig

log = logging.getLogger(__name__)

FEED_BATCH = 200
UNUSED_TTL_S = 24 * 3600
_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = (
    weakref.WeakKeyDictionary()
)


def _unused_key(room: str) -> str:
    return f"chat:roomfeed:{{{room}}}:unused"


async def mark_unused(room: str, seqs: list[int]) -> None:
    """Say these seqs of the room will never hold a message (the feed skips them at once)."""
    if not seqs:
        return
    async with redis().pipeline(transaction=False) as pipe:
        pipe.zadd(_unused_key(room), {str(seq): seq for seq in seqs})
        pipe.expire(_unused_key(room), UNUSED_TTL_S)
        await pipe.execute()


def stored(room: str) -> None:
    """Messages were stored in `room`: wake this process's feed (it also runs on a timer)."""
    waker = _wakers.get(asyncio.get_running_loop())
    if waker is not None:
        waker.set()


async def queue_put(
    *, name: str, visibility_s: int, max_receives: int, room: str | None
) -> tuple[services.QueueView, bool]:
    """Create or update a queue; bound to a room, it gets the messages after the room's
    current seq."""
    room_seq = None
    if room:
        room_seq = await sequencing.allocated(room) or await pages.max_seq(room)
    return await services.queue_put(
        name=name,
        visibility_s=visibility_s,
        max_receives=max_receives,
        room=room,
        room_seq=room_seq,
    )


def _fed_through(
    fed: int, seqs: list[int], got: dict[int, pages.Stored], unused: set[int], now: datetime
) -> int:
    """The highest seq the feed may advance to: stored or unused seqs, and gaps behind a
    message stored longer than the gap time ago."""
    grace = timedelta(seconds=settings.CHAT_QUEUE_ROOM_GAP_S)
    last = fed
    for seq in seqs:
        if seq not in got and seq not in unused:
            later = [got[s].message.ts for s in seqs if s > seq and s in got]
            if not later or now - min(later) < grace:
                break
        last = seq
    return last


async def feed_once(config: QueueConfig) -> int:
    """Enqueue the bound room's messages after the queue's fed seq; return how many."""
    room, fed = config.room or "", config.fed_seq
    top = await sequencing.allocated(room)
    if top <= fed:
        return 0
    seqs = list(range(fed + 1, min(top, fed + FEED_BATCH) + 1))
    got = await pages.get(room, seqs)
    unused = {int(s) for s in await redis().zrangebyscore(_unused_key(room), seqs[0], seqs[-1])}
    last = _fed_through(fed, seqs, got, unused, datetime.now(UTC))
    if last == fed:
        return 0
    items = [
        (got[s].message.id, got[s].message.model_dump_json())
        for s in seqs
        if s <= last and s in got
    ]
    if await registry.feed(config.name, expected_seq=fed, new_seq=last, items=items) != 1:
        return 0  # another worker fed it first, or the queue is gone
    return len(items)


async def feed_all() -> int:
    """One pass over every bound queue, each fed until it is caught up; return how many."""
    total = 0
    for config in await registry.bound():
        while True:
            fed = await feed_once(config)
            total += fed
            if fed < 1:
                break
            refreshed = await registry.get(config.name)
            if refreshed is None or refreshed.room != config.room:
                break
            config = refreshed
    return total


async def feed_forever() -> None:
    """The worker's feed loop: a pass when woken by a stored message, and on a timer."""
    waker = _wakers.setdefault(asyncio.get_running_loop(), asyncio.Event())
    tick = settings.CHAT_QUEUE_ROOM_POLL_MS / 1000
    while True:
        waker.clear()
        try:
            await feed_all()
        except retryloop.OUTAGES as exc:
            log.info("room feed paused: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waker.wait(), tick)
