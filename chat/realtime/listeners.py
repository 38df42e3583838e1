"""Room listeners: held HTTP requests (long-polls) wait on their room's broadcasts here.

A room has one local channel of the layer in this process, however many requests wait on
it, so a poll costs no Redis subscription of its own; the channel stays a member of the
room's group for LINGER_S after its last waiter, so the next poll of a client finds it
subscribed and is answered from the room's newest messages it remembers (Recent).
`close_all` wakes every waiter when the worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import get_channel_layer

from chat.protocol import HISTORY_MAX_PAGE, group_name, highest_seq

log = logging.getLogger(__name__)

LINGER_S = 30.0
RECENT = 1000

# What a waiter gets: a layer message of the room (chat.protocol.layer), or None to stop.
Waiter = asyncio.Queue[dict[str, Any] | None]


class Recent:
    """A room's newest broadcast messages as (seq, text), an unbroken run of seqs."""

    def __init__(self, size: int = RECENT) -> None:
        self.run: deque[tuple[int, str]] = deque(maxlen=size)

    def remember(self, texts: list[str]) -> None:
        for text in texts:
            seq = highest_seq(text) or 0
            if self.run and seq <= self.run[-1][0]:
                continue  # a resend's second broadcast
            if self.run and seq != self.run[-1][0] + 1:
                self.run.clear()  # a gap (a lost broadcast, a hole): an unbroken run anew
            self.run.append((seq, text))

    def after(self, after_seq: int) -> tuple[int, list[str]]:
        """The messages after `after_seq` (a page at most) and the highest seq among them;
        none when the run does not reach back to `after_seq` or holds nothing newer."""
        if not self.run or not self.run[0][0] - 1 <= after_seq < self.run[-1][0]:
            return after_seq, []
        start = after_seq + 1 - self.run[0][0]
        texts = [text for _seq, text in itertools.islice(self.run, start, start + HISTORY_MAX_PAGE)]
        return after_seq + len(texts), texts


class _Room:
    def __init__(self, room: str) -> None:
        self.group = group_name(room)
        self.waiters: set[Waiter] = set()
        self.channel = get_channel_layer().new_local_channel(self.deliver)
        self.joined: asyncio.Future[None] = asyncio.ensure_future(
            get_channel_layer().group_add(self.group, self.channel)
        )
        self.linger: asyncio.TimerHandle | None = None
        # What a client's next poll is answered from while this stays subscribed.
        self.recent = Recent()

    def deliver(self, event: dict[str, Any]) -> None:
        if event["type"] == "chat.message":
            self.recent.remember(event["texts"])
        for waiter in self.waiters:
            waiter.put_nowait(event)


_rooms: dict[str, _Room] = {}
_leaving: set[asyncio.Future[None]] = set()


@contextlib.asynccontextmanager
async def listen(room: str) -> AsyncIterator[tuple[Waiter, Recent]]:
    """A queue of the room's broadcasts from the moment this returns (subscribed) to the
    end of the block, and the room's memory of its newest messages."""
    entry = _rooms.get(room)
    if entry is None:
        entry = _rooms[room] = _Room(room)
    try:
        await asyncio.shield(entry.joined)
    except Exception:
        if _rooms.get(room) is entry:  # the next request subscribes anew
            _drop(room, entry)
        raise
    if entry.linger is not None:
        entry.linger.cancel()
        entry.linger = None
    waiter: Waiter = asyncio.Queue()
    entry.waiters.add(waiter)
    try:
        yield waiter, entry.recent
    finally:
        entry.waiters.discard(waiter)
        if not entry.waiters and _rooms.get(room) is entry:
            entry.linger = asyncio.get_running_loop().call_later(LINGER_S, _linger_over, room)


def waiting() -> int:
    """How many requests wait now (the worker's shutdown waits for them to answer)."""
    return sum(len(entry.waiters) for entry in _rooms.values())


def close_all() -> None:
    """Wake every waiter with None: the worker is stopping."""
    for entry in _rooms.values():
        for waiter in entry.waiters:
            waiter.put_nowait(None)


def _linger_over(room: str) -> None:
    entry = _rooms.get(room)
    if entry is not None and not entry.waiters:
        _drop(room, entry)
        task = asyncio.ensure_future(_leave(entry))
        _leaving.add(task)
        task.add_done_callback(_leaving.discard)


async def _leave(entry: _Room) -> None:
    try:
        await get_channel_layer().group_discard(entry.group, entry.channel)
    except Exception:  # Redis is away: its subscriptions went with it
        log.info("a long-poll listener left %s without Redis", entry.group)


def _drop(room: str, entry: _Room) -> None:
    del _rooms[room]
    get_channel_layer().discard_local_channel(entry.channel)
