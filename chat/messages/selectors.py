"""Reads: history pages and room figures."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Literal

from django.conf import settings
from redis.exceptions import RedisError

from chat.infra.singleflight import SingleFlight
from chat.messages import historytail, pages, roomfigures, searching, sequencing
from chat.presence import store as presence
from chat.protocol import (
    HISTORY_MAX_PAGE,
    HISTORY_PAGE,
    SEARCH_PAGE,
    History,
    HistoryIn,
    MessageOut,
    Presence,
    SearchResults,
)
from chat.scheduled import rules as scheduling
from chat.scheduled import store as scheduler


@dataclass(frozen=True)
class RoomListing:
    """A room, its stored figures (None before its first message) and who is present now."""

    room: str
    stats: roomfigures.RoomStats | None
    members: int


async def history_page(
    *, room: str, before_seq: int | None = None, limit: int = HISTORY_PAGE
) -> History:
    """The page of messages older than `before_seq` (the newest page when it is None)."""
    page = await pages.page_before(room, before_seq=before_seq, limit=limit, top=await _top(room))
    return History(messages=page.messages, has_more=page.has_more, before_seq=before_seq)


# Store reads that fill a room's tail, shared by the joins that miss it at the same time.
_tail_fills: SingleFlight[str, pages.Page] = SingleFlight()


async def newest_page(room: str, *, limit: int = HISTORY_PAGE) -> pages.Page:
    """The room's newest messages: from its history tail in Redis when that can tell, else
    from the store, whose answer then fills the tail.

    For a join only: it subscribed first, and the tail holds a message from just before its
    broadcast, so what is stored but not in the tail yet reaches it live. A reader that is
    not subscribed (REST, a client's own history request) reads the store.
    """
    if limit >= historytail.size():
        return await pages.page_before(room, before_seq=None, limit=limit, top=await _top(room))
    try:
        if tail := await _tail_newest(room, limit):
            return tail
        expected = await historytail.generation(room)
    except RedisError:
        return await pages.page_before(room, before_seq=None, limit=limit)
    # Joins that miss the tail together share one store read, which fills the tail. It may
    # have begun before this join subscribed, so the tail (which a message enters before it
    # is published) is asked again: it holds what came since.
    page = await _tail_fills.run(room, partial(_fill_tail, room, expected))
    with contextlib.suppress(RedisError):
        if tail := await _tail_newest(room, limit):
            return tail
    return pages.Page(page.messages[-limit:], page.has_more or len(page.messages) > limit)


async def _tail_newest(room: str, limit: int) -> pages.Page | None:
    # The newest entries first, room for as many holes as messages; the rest only if needed.
    window = 2 * (limit + 1)
    entries = await historytail.read(room, newest=window)
    answer = historytail.newest(entries, limit)
    if answer is None and len(entries) == window:
        answer = historytail.newest(await historytail.read(room), limit)
    if answer is None:
        return None
    return pages.Page([MessageOut.model_validate_json(t) for t in answer.texts], answer.has_more)


async def _fill_tail(room: str, expected: str) -> pages.Page:
    """The room's newest page from the store, written to its tail (unless it moved on)."""
    page = await pages.page_before(
        room, before_seq=None, limit=historytail.size() - 1, top=await _top(room)
    )
    entries = historytail.entries_of_page(page.messages, has_more=page.has_more)
    with contextlib.suppress(RedisError):  # the next join reads the store again
        await historytail.add(room, entries, expected=expected)
    return page


async def history_for(*, room: str, request: HistoryIn) -> History:
    """The page a member's `history` request asks for: after, around or before a seq (or the
    newest). A gap fill is answered from the history tail when it can tell (the member is
    subscribed: what is newer than the tail reaches it live)."""
    if request.after_seq is not None:
        tail = await _tail_after(room, request.after_seq)
        if tail is not None:
            page = tail[: request.limit]
            return History(
                messages=page, has_more=len(tail) > len(page), after_seq=request.after_seq
            )
        return await history_after(room=room, after_seq=request.after_seq, limit=request.limit)
    if request.around_seq is not None:
        return await history_around(room=room, around_seq=request.around_seq, limit=request.limit)
    return await history_page(room=room, before_seq=request.before_seq, limit=request.limit)


async def history_after(*, room: str, after_seq: int, limit: int = HISTORY_PAGE) -> History:
    """The oldest `limit` messages newer than `after_seq` (a gap fill)."""
    page = await pages.page_after(room, after_seq=after_seq, limit=limit, top=await _top(room))
    return History(messages=page.messages, has_more=page.has_more, after_seq=after_seq)


async def history_around(*, room: str, around_seq: int, limit: int = HISTORY_PAGE) -> History:
    """About `limit` messages centred on `around_seq` (itself included when stored).

    `has_more`: older ones exist; `has_newer`: newer ones exist.
    """
    top = await _top(room)
    older = await pages.page_before(room, before_seq=around_seq + 1, limit=limit // 2 + 1, top=top)
    newer = await pages.page_after(
        room, after_seq=around_seq, limit=limit - len(older.messages), top=top
    )
    return History(
        messages=older.messages + newer.messages,
        has_more=older.has_more,
        around_seq=around_seq,
        has_newer=newer.has_more,
    )


async def search(
    *, room: str, q: str, before_seq: int | None = None, limit: int = SEARCH_PAGE
) -> SearchResults:
    """The room's messages containing `q` in any case, newest first, older than before_seq;
    answered from the room's search index (chat.messages.searching)."""
    page = await searching.search(
        room, text=q, before_seq=before_seq, limit=limit, top=await _top(room)
    )
    return SearchResults(
        q=q,
        messages=page.messages,
        has_more=page.has_more,
        before_seq=before_seq,
        next_before_seq=page.next_before_seq,
    )


async def catch_up(*, room: str, after_seq: int) -> AsyncIterator[History]:
    """Every message newer than `after_seq` in pages of the largest size (a resume).

    The last page says `has_more: false`; a room with nothing newer yields one empty page.
    """
    tail = await _tail_after(room, after_seq)
    if tail is not None and len(tail) <= HISTORY_MAX_PAGE:
        yield History(messages=tail, has_more=False, after_seq=after_seq)
        return
    cursor = after_seq
    pending: list[MessageOut] | None = None
    walk = pages.pages_after(
        room, after_seq=after_seq, page_size=HISTORY_MAX_PAGE, top=await _top(room)
    )
    async for messages in walk:
        # Hold each page back until the next one exists, so has_more is known when sending.
        if pending is not None:
            yield History(messages=pending, has_more=True, after_seq=cursor)
            cursor = pending[-1].seq
        pending = messages
    yield History(messages=pending or [], has_more=False, after_seq=cursor)


async def room_list(
    *, order: Literal["recent", "busiest"] = "recent", limit: int = 100
) -> list[RoomListing]:
    """Active rooms: those with stored messages (latest activity or most messages first, by
    the figures kept per room, not by reading messages) and those people are in without a
    message yet (first for "recent", last for "busiest"); each with how many are present."""
    rooms = await roomfigures.room_figures(order=order, limit=limit)
    try:
        listed = {r.room for r in rooms}
        quiet = [r for r in await presence.occupied_rooms(limit) if r not in listed]
        present = await presence.counts([r.room for r in rooms] + quiet)
    except RedisError:
        quiet, present = [], {}  # the figures still help; members show as 0 until Redis answers
    with_messages = [RoomListing(room=r.room, stats=r, members=present[r.room]) for r in rooms]
    without = [RoomListing(room=r, stats=None, members=present[r]) for r in quiet if present[r]]
    ordered = without + with_messages if order == "recent" else with_messages + without
    return ordered[:limit]


async def last_seq(*, room: str) -> int:
    """The room's highest stored seq as its kept figures say (0 for a new room): a key
    lookup, where the store's own maximum is a scan on FerretDB."""
    return await roomfigures.last_seq(room)


async def _top(room: str) -> int | None:
    """The room's seq counter, above every stored seq (where the room's figures may lag a
    concurrent write), or None when Redis cannot tell: where history walks start."""
    try:
        return await sequencing.allocated(room)
    except RedisError:
        return None


async def _tail_after(room: str, after_seq: int) -> list[MessageOut] | None:
    """The stored messages above `after_seq` from the room's history tail, if it can tell."""
    if not historytail.size():
        return None
    try:
        # From `after_seq` itself: an entry there vouches that nothing above it is missing.
        entries = await historytail.read(room, above=after_seq - 1)
        texts = historytail.after(entries, after_seq)
    except RedisError:
        return None
    return None if texts is None else [MessageOut.model_validate_json(t) for t in texts]


async def join_view(*, room: str) -> tuple[int, History]:
    """The room's highest stored seq and its newest page, for a join.

    The newest page ends with the highest seq, and an empty one means the room has none
    stored (0), so a join costs no second read.
    """
    newest = await newest_page(room)
    page = History(messages=newest.messages, has_more=newest.has_more)
    return (page.messages[-1].seq if page.messages else 0), page


async def scheduled_pending(*, room: str, holder: str) -> list[scheduling.ScheduledMessage]:
    """The holder's scheduled messages in the room that are not delivered yet, earliest
    first (chat.identity.owners.owner_of says who holds what)."""
    return await scheduler.pending(room=room, holder=holder)


async def presence_now(*, room: str, name: str) -> Presence:
    """The `presence` snapshot of the room for `name`: who is present, each once (in a big
    room only CHAT_PRESENCE_LIST_MAX of them, `name` among them), and how many."""
    found = await presence.members(room, limit=settings.CHAT_PRESENCE_LIST_MAX, include=name)
    return Presence(members=found.names, count=found.count, version=found.version)
