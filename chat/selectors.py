"""Reads: history pages and room figures."""

from __future__ import annotations

from chat import store
from chat.protocol import HISTORY_PAGE, History


async def history_page(
    *, room: str, before_seq: int | None = None, limit: int = HISTORY_PAGE
) -> History:
    """The page of messages older than `before_seq` (the newest page when it is None)."""
    page = await store.page_before(room, before_seq=before_seq, limit=limit)
    return History(messages=page.messages, has_more=page.has_more)


async def last_seq(*, room: str) -> int:
    """The highest stored seq of the room (0 for a new room)."""
    return await store.max_seq(room)
