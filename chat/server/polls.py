"""Plain long-polls (`GET /api/rooms/<room>/events?after_seq=N`) served beside Django.

Through Django every request gets a thread of its own for its sync signal receivers, kept
for as long as the request lasts: a thousand held polls were a thousand threads
(docs/performance.md#http-transports). A plain poll reads only what the room says, so it
needs none of Django's middleware (no session, no user): it is answered here, on the event
loop, with the same checks, limits and answers as the documented API operation
(chat/web/api/transports.py), which still serves welcome polls and token-bearing ones.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.limits import admission, connlimits
from chat.protocol import ProtocolError, parse_after_seq, validate_room
from chat.realtime import longpoll
from chat.server.origin import host_allowed

_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
_STATUS = {"too_many_connections": 429, "connecting_too_fast": 429, "server_full": 503}


def plain_poll(scope: dict[str, Any]) -> bool:
    """A poll this module answers: no welcome (which names the poller) and no token."""
    headers = dict(scope.get("headers", ()))
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return b"authorization" not in headers and "welcome" not in query


def poll_arguments(room: str, query_string: bytes) -> tuple[str, int, float]:
    """The room, after_seq and wait_s of a poll, checked as the API operation checks them."""
    query = parse_qs(query_string.decode("latin-1"))
    room = validate_room(room)
    after_seq = parse_after_seq(query.get("after_seq", [None])[-1])
    if after_seq is None:
        raise ProtocolError("invalid_field", "after_seq: give after_seq")
    raw_wait = query.get("wait_s", ["25"])[-1]
    try:
        wait_s = float(raw_wait)
    except ValueError:
        wait_s = math.nan
    if not 0 <= wait_s <= longpoll.MAX_WAIT_S:
        raise ProtocolError("invalid_field", f"wait_s: a number 0-{longpoll.MAX_WAIT_S}")
    return room, after_seq, wait_s


async def serve(scope: dict[str, Any], receive: Any, send: Any, room: str) -> None:
    """Answer one plain poll; a client that goes away ends its wait."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
    if not host_allowed(headers.get("host"), settings.ALLOWED_HOSTS, debug=settings.DEBUG):
        await _answer(send, 400, _error("bad_request", "this host is not served here"))
        return
    try:
        room, after_seq, wait_s = poll_arguments(room, scope.get("query_string", b""))
    except ProtocolError as exc:
        field = exc.message.split(":", 1)[0] if exc.code == "invalid_field" else "room"
        await _answer(send, 422, _error(exc.code, exc.message, field))
        return
    client = scope.get("client")
    address = str(client[0]) if isinstance(client, list | tuple) else "-"
    poll = f"poll.{uuid.uuid4().hex}"
    if refused := await admission.admit_poll(poll, address):
        code, message = refused
        await _answer(send, _STATUS[code], _error(code, message))
        return
    waiting = asyncio.ensure_future(
        longpoll.events_after(room=room, after_seq=after_seq, wait_s=wait_s)
    )
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            return  # nobody to answer
        polled = waiting.result()
    except (PyMongoError, RedisError):
        await _answer(send, 503, _error("unavailable", "the service is unavailable right now"))
        return
    finally:
        waiting.cancel()
        gone.cancel()
        await connlimits.release(poll)
    body = f'{{"events":[{",".join(polled.events)}],"last_seq":{polled.last_seq}}}'
    await _answer(send, 200, body.encode())


def _error(code: str, message: str, field: str | None = None) -> bytes:
    return json.dumps({"code": code, "message": message, "field": field}).encode()


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
