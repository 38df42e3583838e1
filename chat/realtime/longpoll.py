"""Long-polling: a room's events after a seq, at once when there are any, else as soon as
one is broadcast, else none when the wait is over (docs/protocol.md#http-transports).

A held request waits on its worker's listener for the room (chat.realtime.listeners), not
on the store: a poll is answered from the listener's memory of the room's newest messages
when it reaches back far enough, else the store is read once when the poll starts, and
again only when the broadcasts it got leave a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from chat.identity import accounts
from chat.messages import selectors
from chat.protocol import History, highest_seq
from chat.realtime import listeners
from chat.realtime.member import welcome_event

MAX_WAIT_S = 30


@dataclass
class Polled:
    """Encoded server events, and the highest seq among them (the next poll's after_seq)."""

    last_seq: int
    events: list[str] = field(default_factory=list)


async def hello(*, room: str, who: accounts.Identity, after_seq: int | None) -> Polled:
    """What a socket gets on connecting: welcome, the newest page (or the first page after
    `after_seq`), and who is present; answered at once."""
    if after_seq is None:
        last_seq, page = await selectors.join_view(room=room)
    else:
        last_seq, page = await selectors.last_seq(room=room), await _page_after(room, after_seq)
    polled = Polled(last_seq=page.messages[-1].seq if page.messages else after_seq or 0)
    polled.events += [welcome_event(room, who.name, who.account, last_seq).encode(), page.encode()]
    with contextlib.suppress(RedisError):  # as on a socket: no snapshot while Redis is away
        polled.events.append((await selectors.presence_now(room=room, name=who.name)).encode())
    return polled


async def events_after(*, room: str, after_seq: int, wait_s: float) -> Polled:
    """Every message after `after_seq` (a page at most) at once; else what the room
    broadcasts first within `wait_s` (messages, typing, presence)."""
    async with listeners.listen(room) as (waiter, recent):
        last_seq, texts = recent.after(after_seq)
        if texts:
            return Polled(last_seq, texts)
        polled = _stored(await _page_after(room, after_seq), after_seq)
        if polled.events:
            return polled
        held = min(wait_s, MAX_WAIT_S, settings.CHAT_POLL_MAX_WAIT_S)
        deadline = asyncio.get_running_loop().time() + held
        while (item := await _next(waiter, deadline, wait=not polled.events)) is not None:
            if not _take(polled, item):  # a gap: what the store holds instead
                return _stored(await _page_after(room, after_seq), after_seq)
        return polled


def _stored(page: History, after_seq: int) -> Polled:
    messages = page.messages
    return Polled(messages[-1].seq if messages else after_seq, [m.encode() for m in messages])


async def _page_after(room: str, after_seq: int) -> History:
    async for page in selectors.catch_up(room=room, after_seq=after_seq):
        return page
    raise AssertionError("catch_up yields at least one page")


async def _next(waiter: listeners.Waiter, deadline: float, *, wait: bool) -> dict[str, Any] | None:
    """The next broadcast: waited for until `deadline`, or only one already queued."""
    if not wait:
        return None if waiter.empty() else waiter.get_nowait()
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        return None
    try:
        return await asyncio.wait_for(waiter.get(), remaining)
    except TimeoutError:
        return None


def _take(polled: Polled, item: dict[str, Any]) -> bool:
    """Add a broadcast's events; False when its messages do not follow `last_seq` at once."""
    kind = item["type"]
    if kind == "chat.typing":
        polled.events.append(item["text"])
    elif kind == "chat.presence":
        polled.events += [text for _sender, text in item["events"]]
    elif kind == "chat.message":
        for text in item["texts"]:
            seq = highest_seq(text) or 0
            if seq <= polled.last_seq:
                continue  # a resend's second broadcast
            if seq != polled.last_seq + 1:
                return False
            polled.events.append(text)
            polled.last_seq = seq
    return True
