"""The HTTP transports' REST half: long-polling a room's events, and sending any client frame
over HTTP (docs/protocol.md#http-transports). The event stream (SSE) is served beside the
WebSocket, by the same consumer (chat.server.eventstream)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Field, Query, Router, Schema
from ninja.errors import ValidationError

from chat.errors import ServiceError
from chat.identity.loginthrottle import client_address
from chat.limits import admission, connlimits
from chat.protocol import MAX_SEQ
from chat.realtime import longpoll
from chat.realtime.exchange import FrameExchange
from chat.web.api.common import ROOM_PATH, ErrorOut, identity_of, room_of

router = Router(tags=["http transports"])

_EVENTS = "server events exactly as the WebSocket sends them (docs/protocol.md)"


class EventsOut(Schema):
    """A room's events after `after_seq`; `last_seq` is where the next poll starts."""

    events: list[dict[str, Any]] = Field(description=_EVENTS)
    last_seq: int


class RepliesOut(Schema):
    """What a WebSocket would have answered the frame with (an ack, a page, an error...)."""

    events: list[dict[str, Any]] = Field(description=_EVENTS)


def _events(texts: list[str], **extra: int) -> HttpResponse:
    """Encoded events joined as they are: a broadcast is encoded once, for every client."""
    tail = "".join(f',"{key}":{value}' for key, value in extra.items())
    return HttpResponse(f'{{"events":[{",".join(texts)}]{tail}}}', content_type="application/json")


@router.get(
    "/rooms/{room}/events",
    response={200: EventsOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Long-poll a room's events",
)
async def poll_events(
    request: HttpRequest,
    room: str = ROOM_PATH,
    after_seq: int | None = Query(
        None, ge=0, le=MAX_SEQ, description="the highest seq the client has; omit with welcome"
    ),
    wait_s: float = Query(
        25, ge=0, le=longpoll.MAX_WAIT_S, description="how long to hold the request when empty"
    ),
    name: str = Query("", description="with welcome: who polls (as the WebSocket's ?name=)"),
    welcome: bool = Query(
        False, description="answer at once as a WebSocket opens: welcome, a page, presence"
    ),
) -> HttpResponse:
    """Every message after `after_seq` at once, else the first events the room broadcasts
    within `wait_s`, else none; the same rules and shapes as the WebSocket."""
    where = room_of(room)
    # Only a welcome names the poller: a plain poll reads what the room says, like a history page.
    who = await identity_of(request, name, where="query", field="name") if welcome else None
    if after_seq is None and not welcome:
        error = {"loc": ("query", "after_seq"), "type": "missing", "msg": "give after_seq"}
        raise ValidationError([error])
    poll = f"poll.{uuid.uuid4().hex}"
    if refused := await admission.admit_poll(poll, client_address(request)):
        raise ServiceError(*refused)
    try:
        polled = await (
            longpoll.hello(room=where, who=who, after_seq=after_seq)
            if who is not None
            else longpoll.events_after(room=where, after_seq=after_seq or 0, wait_s=wait_s)
        )
    finally:
        await connlimits.release(poll)
    return _events(polled.events, last_seq=polled.last_seq)


_FRAME = Body(
    ..., description="one client event as on the WebSocket", examples=[{"type": "typing"}]
)
_SENDS = {200: RepliesOut, 400: ErrorOut, 422: ErrorOut, 503: ErrorOut}


@router.post("/rooms/{room}/frames", response=_SENDS, summary="Send a client frame over HTTP")
async def send_frame(
    request: HttpRequest,
    frame: dict[str, Any] = _FRAME,
    room: str = ROOM_PATH,
    name: str = Query("", description="who sends (as the WebSocket's ?name=)"),
) -> HttpResponse:
    """Answer the frame as the WebSocket would: a `message` is stored and acknowledged, a
    `history` answered with its page, a bad frame with an `error` event (status 200)."""
    who = await identity_of(request, name, where="query", field="name")
    exchange = FrameExchange(room=room_of(room), identity=who, address=client_address(request))
    return _events(await exchange.exchange(request.body))
