"""Rooms and messages: the room list, history pages, posting, search."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import ValidationError
from pydantic import ConfigDict, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from chat import protocol
from chat.messages import selectors, services
from chat.web.api.common import (
    ROOM_PATH,
    ErrorOut,
    MessageItem,
    WireTime,
    name_checked,
    read_allowed,
    room_of,
    writer_of,
)

router = Router(tags=["rooms and messages"])


class RoomOut(Schema):
    """An active room: it holds messages, or people are in it."""

    room: str
    messages: int = Field(description="how many messages the room holds")
    members: int = Field(description="how many names are present in it now (docs/protocol.md)")
    last_seq: int | None = Field(description="seq of its newest message; null before the first")
    last_ts: WireTime | None = Field(
        description="when its newest message was stored (UTC); null before the first"
    )


class HistoryOut(Schema):
    """A page of messages in ascending seq, as the WebSocket `history` event without `type`."""

    messages: list[MessageItem]
    has_more: bool = Field(
        description="more exist in the page's direction: newer for after_seq, older otherwise"
    )
    before_seq: int | None = None
    after_seq: int | None = None


# A page and a search answer alike: their result, or a bad query, a read limit, a store down.
_HISTORY_ANSWERS = {200: HistoryOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut}


class MessageBody(Schema):
    """A message to post now, as its author."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(
        description=f"1-{protocol.MAX_TEXT} characters, not only whitespace", examples=["hello"]
    )
    author: StrictStr = Field(
        max_length=64,
        description=f"the name to post as (1-{protocol.MAX_NAME})",
        examples=["alice"],
    )
    client_id: protocol.Text | None = Field(
        default=None,
        examples=["7b1e7c1e-5a4f-4c55-9d8e-0b3f5f7a9c21"],
        min_length=1,
        max_length=64,
        description="unique per message; a retry with it stores nothing new and returns the "
        "original id and seq",
    )

    _text = field_validator("text")(protocol.check_text)
    author_of = field_validator("author")(name_checked)


class PostedOut(Schema):
    """The confirmation of a stored message (the WebSocket `ack` without `type`)."""

    id: str
    seq: int
    client_id: str | None = None


@router.get(
    "/rooms",
    response={200: list[RoomOut], 422: ErrorOut, 503: ErrorOut},
    summary="List rooms",
)
async def list_rooms(
    request: HttpRequest,
    order: Literal["recent", "busiest"] = Query(
        "recent", description="recent: latest activity first; busiest: most messages first"
    ),
    limit: int = Query(100, ge=1, le=1000, description="at most this many rooms"),
) -> list[RoomOut]:
    """Rooms that hold messages or have people in them: figures and who is present now."""
    rooms = await selectors.room_list(order=order, limit=limit)
    return [
        RoomOut(
            room=r.room,
            messages=r.stats.messages if r.stats else 0,
            members=r.members,
            last_seq=r.stats.last_seq if r.stats else None,
            last_ts=r.stats.last_ts if r.stats else None,
        )
        for r in rooms
    ]


@router.get("/rooms/{room}/messages", response=_HISTORY_ANSWERS, summary="Read a page of history")
async def list_messages(
    request: HttpRequest,
    room: str = ROOM_PATH,
    before_seq: int | None = Query(
        None,
        gt=0,
        le=protocol.MAX_SEQ,
        description="the newest `limit` messages with seq < before_seq",
    ),
    after_seq: int | None = Query(
        None,
        ge=0,
        le=protocol.MAX_SEQ,
        description="the oldest `limit` messages with seq > after_seq",
    ),
    limit: int = Query(protocol.HISTORY_PAGE, ge=1, le=protocol.HISTORY_MAX_PAGE),
) -> HistoryOut:
    """Like the WebSocket `history`: no cursor is the newest page; not both cursors."""
    name = room_of(room)
    read_allowed(request, "history")
    if before_seq is not None and after_seq is not None:
        error = {
            "loc": ("query", "after_seq"),
            "type": "invalid_field",
            "msg": "give before_seq or after_seq, not both",
        }
        raise ValidationError([error])
    if after_seq is not None:
        page = await selectors.history_after(room=name, after_seq=after_seq, limit=limit)
    else:
        page = await selectors.history_page(room=name, before_seq=before_seq, limit=limit)
    return HistoryOut(
        messages=[MessageItem.model_validate(m.model_dump()) for m in page.messages],
        has_more=page.has_more,
        before_seq=page.before_seq,
        after_seq=page.after_seq,
    )


@router.post(
    "/rooms/{room}/messages",
    response={201: PostedOut, 400: ErrorOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Post a message",
)
async def post_message(
    request: HttpRequest, body: MessageBody, room: str = ROOM_PATH
) -> Status[PostedOut]:
    """Store and fan out like a WebSocket `message`; 201 with its id and seq, also on a retry."""
    who = await writer_of(request, body.author, body.client_id, field="author")
    message = await services.message_create(
        room=room_of(room),
        author=who.name,
        account=who.account,
        text=body.text,
        client_id=body.client_id,
    )
    return Status(201, PostedOut(id=message.id, seq=message.seq, client_id=body.client_id))


class SearchOut(Schema):
    """Matching messages newest first, as the WebSocket `search` event without `type`."""

    q: str = Field(description="the query as searched (outer whitespace trimmed)")
    messages: list[MessageItem]
    has_more: bool = Field(
        description="older matches may exist: ask again with before_seq=next_before_seq"
    )
    before_seq: int | None = None
    next_before_seq: int | None = Field(
        default=None,
        description="where the next page starts: a page reads a bounded number of messages, "
        "so it may hold fewer than `limit` (even none) and still have more",
    )


_SEARCH_ANSWERS = {**_HISTORY_ANSWERS, 200: SearchOut}


def _query(raw: str) -> str:
    try:
        return protocol.check_query(raw)
    except PydanticCustomError as exc:
        error = {"loc": ("query", "q"), "type": exc.type, "msg": exc.message()}
        raise ValidationError([error]) from None


@router.get("/rooms/{room}/search", response=_SEARCH_ANSWERS, summary="Search a room's messages")
async def search_messages(
    request: HttpRequest,
    room: str = ROOM_PATH,
    q: str = Query("", description=f"1-{protocol.MAX_QUERY} characters, any case"),
    before_seq: int | None = Query(
        None, gt=0, le=protocol.MAX_SEQ, description="the next page: seq of the oldest match so far"
    ),
    limit: int = Query(protocol.SEARCH_PAGE, ge=1, le=protocol.SEARCH_MAX_PAGE),
) -> SearchOut:
    """Messages containing `q` as a substring in any case (no pattern syntax), newest first."""
    read_allowed(request, "search")
    found = await selectors.search(
        room=room_of(room), q=_query(q), before_seq=before_seq, limit=limit
    )
    return SearchOut(
        q=found.q,
        messages=[MessageItem.model_validate(m.model_dump()) for m in found.messages],
        has_more=found.has_more,
        before_seq=found.before_seq,
        next_before_seq=found.next_before_seq,
    )
