"""FrameExchange: one client frame sent over HTTP, answered with the events a WebSocket would
have been sent. A page on an event stream or long-polling sends its frames this way
(docs/protocol.md#http-transports); what the room says reaches it on the stream or the poll.
"""

from __future__ import annotations

from chat.identity import accounts, owners
from chat.limits import readlimits
from chat.ops import metrics
from chat.protocol import MessageIn, ProtocolError, ServerEvent, parse_client_event
from chat.realtime.handlers import RoomHandlers
from chat.realtime.inflight import InFlight


class FrameExchange(RoomHandlers):
    """The frame's sender in its room, for one request: its replies are collected, not sent."""

    conn_id = "http"
    # Typing relayed from here names no connection, so the typist's own stream hears it too
    # (the page ignores typing under its own name).
    channel_name = ""

    def __init__(self, *, room: str, identity: accounts.Identity, address: str) -> None:
        self.room = room
        self.name, self.account, self.guest_key = (
            identity.name,
            identity.account,
            identity.guest_key,
        )
        self.owner = owners.owner_of(identity)
        self.address = address
        self.replies: list[str] = []

    async def send_event(self, event: ServerEvent) -> None:
        self.replies.append(event.encode())

    async def send_history(self, page: ServerEvent) -> None:
        await self.send_event(page)

    def check_read(self, read: readlimits.Read) -> None:
        """A request has no connection: its reads count against its address, as on REST."""
        readlimits.check_address(read, self.address)

    async def exchange(self, frame: str | bytes) -> list[str]:
        """Answer one frame; the encoded events in the order a socket would get them."""
        try:
            event = parse_client_event(frame)
        except ProtocolError as exc:
            await self.send_error(exc, client_id=None)
            return self.replies
        if isinstance(event, MessageIn):
            metrics.MESSAGES_RECEIVED.inc()
        await self.answer(event)
        await InFlight.finished(self.posts().started())  # a message's ack, or why not
        return self.replies
