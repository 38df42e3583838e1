"""Server-Sent Events served by the room's WebSocket consumer: `GET /api/rooms/<room>/stream`.

A page whose network blocks WebSocket upgrades still gets the same session: the consumer
runs as for a socket (admission, identity, welcome and history, presence, broadcasts,
catch-ups) while this bridge turns what it sends into `data:` lines, each with `id:` =
the highest seq sent so far, so a browser's `Last-Event-ID` resumes exactly. The client's
frames come as HTTP requests instead (chat.realtime.exchange). docs/protocol.md#http-transports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

from chat.protocol import CLOSE_GOING_AWAY, highest_seq

log = logging.getLogger(__name__)

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # proxies must pass each event on at once
    (b"x-content-type-options", b"nosniff"),
]
# How soon a browser's EventSource reconnects by itself (the page reconnects on its own).
_RETRY = b"retry: 3000\n\n"

_open: set[EventStream] = set()


def streams_open() -> int:
    """How many event streams this worker serves (its shutdown waits for them to end)."""
    return len(_open)


def close_all() -> None:
    """The worker is stopping: end every stream as a socket is closed, with going-away."""
    for stream in list(_open):
        stream.end(CLOSE_GOING_AWAY)


async def refuse(send: Any) -> None:
    """Deny the stream as a WebSocket handshake is denied: 403, nothing else."""
    await send({"type": "http.response.start", "status": 403, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def resume_query(query_string: bytes, last_event_id: str | None) -> bytes:
    """The query with `after_seq` = a reconnecting browser's Last-Event-ID, which is newer
    than the after_seq its first request named."""
    if not last_event_id or not last_event_id.isdigit():
        return query_string
    pairs = [(k, v) for k, v in parse_qsl(query_string.decode("latin-1")) if k != "after_seq"]
    return urlencode([*pairs, ("after_seq", last_event_id)]).encode("latin-1")


def event_lines(text: str, last_id: int) -> tuple[bytes, int]:
    """One SSE event for an encoded server event, with `id:` when it raises the seq."""
    seq = highest_seq(text)
    if seq is not None and seq > last_id:
        return f"id: {seq}\ndata: {text}\n\n".encode(), seq
    return f"data: {text}\n\n".encode(), last_id


class EventStream:
    """One HTTP response carrying a consumer's events; its `receive` and `send` are the
    consumer's, translated."""

    def __init__(self, receive: Any, send: Any) -> None:
        self._http_receive = receive
        self._http_send = send
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._inbox.put_nowait({"type": "websocket.connect"})
        self.started = False
        self.ended = False
        self.last_id = 0
        self.code: int | None = None

    async def serve(self, consumer: Callable[..., Any], scope: dict[str, Any]) -> None:
        """Run the consumer until it closes or the client goes."""
        _open.add(self)
        watch = asyncio.ensure_future(self._watch_client())
        beat = asyncio.ensure_future(self._heartbeat())
        try:
            await consumer(scope, self._inbox.get, self._consumer_send)
        finally:
            _open.discard(self)
            watch.cancel()
            beat.cancel()
            await self._finish()

    def end(self, code: int) -> None:
        """Tell the consumer its connection is gone (it cleans up, then returns); the stream
        ends with this code, as a socket would have closed."""
        if self.code is None:
            self.code = code
            self._inbox.put_nowait({"type": "websocket.disconnect", "code": code})

    async def _consumer_send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.started = True
            await self._write(_RETRY, start=True)
        elif kind == "websocket.send" and not self.ended:
            text = message.get("text") or (message.get("bytes") or b"").decode()
            data, self.last_id = event_lines(text, self.last_id)
            await self._write(data)
        elif kind == "websocket.close":
            self.end(message.get("code", 1000))
            await self._finish()

    async def _write(self, data: bytes, *, start: bool = False) -> None:
        try:
            if start:
                await self._http_send(
                    {"type": "http.response.start", "status": 200, "headers": _HEADERS}
                )
            await self._http_send({"type": "http.response.body", "body": data, "more_body": True})
        except Exception:  # the client went; its disconnect ends the consumer
            log.debug("event stream write failed", exc_info=True)

    async def _finish(self) -> None:
        """End the response once: a stream refused before it started is a 403, as a socket."""
        if self.ended:
            return
        self.ended = True
        with contextlib.suppress(Exception):
            if not self.started:
                await refuse(self._http_send)
                return
            # The close code a socket would have seen: whether (and how soon) to come back.
            closing = f"event: close\ndata: {self.code or 1000}\n\n".encode()
            await self._http_send({"type": "http.response.body", "body": closing})

    async def _watch_client(self) -> None:
        while (await self._http_receive())["type"] != "http.disconnect":
            pass  # a GET's (empty) body
        self.end(1006)  # gone without a word

    async def _heartbeat(self) -> None:
        """A comment line now and then, so proxies and browsers see a live stream."""
        while True:
            await asyncio.sleep(settings.CHAT_SSE_HEARTBEAT_S)
            if self.started and not self.ended:
                await self._write(b": heartbeat\n\n")
