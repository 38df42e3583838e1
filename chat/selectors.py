"""Reads: history pages and room figures."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chat import store
from chat.protocol import HISTORY_MAX_PAGE, HISTORY_PAGE, History


async def history_page(
    *, room: str, before_seq: int | None = None, limit: int = HISTORY_PAGE
) -> History:
    """The page of messages older than `before_seq` (the newest page when it is None)."""
    page = await store.page_before(room, before_seq=before_seq, limit=limit)
    return History(messages=page.messages, has_more=page.has_more, before_seq=before_seq)


async def history_after(*, room: str, after_seq: int, limit: int = HISTORY_PAGE) -> History:
    """The oldest `limit` messages newer than `after_seq` (a gap fill)."""
    page = await store.page_after(room, after_seq=after_seq, limit=limit)
    return History(messages=page.messages, has_more=page.has_more, after_seq=after_seq)


async def catch_up(*, room: str, after_seq: int) -> AsyncIterator[History]:
    """Every message newer than `after_seq`, in pages of the largest size (a resume)."""
    cursor = after_seq
    while True:
        page = await history_after(room=room, after_seq=cursor, limit=HISTORY_MAX_PAGE)
        yield page
        if not page.has_more or not page.messages:
            return
        cursor = page.messages[-1].seq


async def last_seq(*, room: str) -> int:
    """The highest stored seq of the room (0 for a new room)."""
    return await store.max_seq(room)
