"""What one connection has yet to be sent from its room: pending events leave as one frame.

A broadcast arrives as ready-made JSON text (encoded once for every recipient). When
several are waiting for the same connection they go out together as
`{"type": "batch", "events": [...]}`, built by joining those texts, never by re-encoding.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

log = logging.getLogger(__name__)

# A frame stays far below what clients accept (the websockets library refuses frames over
# 1 MiB by default), however much is waiting.
MAX_FRAME_BYTES = 256 * 1024
MAX_FRAME_EVENTS = 500
_BATCH_OPEN = '{"type":"batch","events":['
_BATCH_CLOSE = "]}"


def frame_of(texts: Sequence[str]) -> str:
    """One frame for pre-encoded events: the event itself when alone, else a batch of them."""
    if len(texts) == 1:
        return texts[0]
    return _BATCH_OPEN + ",".join(texts) + _BATCH_CLOSE


def split_frames(
    texts: Sequence[str],
    *,
    max_bytes: int = MAX_FRAME_BYTES,
    max_events: int = MAX_FRAME_EVENTS,
) -> list[list[str]]:
    """Cut events, in order, into frames of at most `max_events` and `max_bytes` of events.

    An event bigger than `max_bytes` on its own still travels, alone in its frame.
    """
    frames: list[list[str]] = []
    current: list[str] = []
    size = 0
    for text in texts:
        if current and (len(current) >= max_events or size + len(text) > max_bytes):
            frames.append(current)
            current, size = [], 0
        current.append(text)
        size += len(text) + 1
    if current:
        frames.append(current)
    return frames


class Outbox:
    """Events waiting for one connection, flushed without a timer.

    The first event queued starts a flush on the event loop's next turn; whatever is queued
    before it runs (the same tick) or while its send is in flight (a server whose send
    waits for the socket) leaves in the same frame or the next one. An idle connection gets
    each event alone and at once. More than `limit_bytes` waiting behind a send that has
    not returned means the client stopped reading: nothing more is queued and `on_overflow`
    is called once. A burst bigger than that reaching an idle connection in one tick (a
    coalesced group of large messages) is sent, not taken for a stalled client.
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        limit_bytes: int,
        on_overflow: Callable[[], Awaitable[None]],
    ) -> None:
        self._send = send
        self._limit = limit_bytes
        self._on_overflow = on_overflow
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._flushing: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._sending = False
        self.overflowed = False

    @property
    def pending(self) -> int:
        """How many events wait to be sent."""
        return len(self._pending)

    def push(self, texts: Iterable[str]) -> None:
        """Queue pre-encoded events, in order, and make sure a flush is coming."""
        if self.overflowed:
            return
        for text in texts:
            self._pending.append(text)
            self._pending_bytes += len(text)
        loop = asyncio.get_running_loop()
        if self._sending and self._pending_bytes > self._limit:
            self.overflowed = True
            self._pending, self._pending_bytes = [], 0
            self._closing = loop.create_task(self._on_overflow())
        elif self._flushing is None and self._pending:
            self._flushing = loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                texts, self._pending, self._pending_bytes = self._pending, [], 0
                for frame in split_frames(texts):
                    self._sending = True
                    await self._send(frame_of(frame))
                    self._sending = False
        except OSError as exc:
            # The connection went away under the send; nothing left here can reach it.
            log.debug("outbox dropped %d events: %s", len(self._pending), exc)
            self._pending, self._pending_bytes = [], 0
        finally:
            self._sending = False
            self._flushing = None
