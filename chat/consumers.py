"""ChatConsumer: one per WebSocket. Thin: parse, call one service or selector, reply."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from chat import selectors, services
from chat.errors import ServiceError
from chat.protocol import (
    CLOSE_BAD_REQUEST,
    Ack,
    Error,
    HistoryIn,
    MessageIn,
    ProtocolError,
    ServerEvent,
    Welcome,
    group_name,
    parse_client_event,
    validate_name,
    validate_room,
)
from chat.workerinfo import worker_id

log = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    """A member of one room: receives its broadcasts, posts messages, pages history."""

    room: str = ""
    name: str = ""
    joined: bool = False

    async def connect(self) -> None:
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.room = validate_room(self.scope["url_route"]["kwargs"].get("room"))
            self.name = validate_name(query.get("name", [""])[0])
        except ProtocolError as exc:
            # Say why before closing: browsers do not expose close reasons reliably.
            await self.send_event(Error(code=exc.code, message=exc.message))
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        # Join before reading history so nothing falls between the page and the live stream.
        await self.channel_layer.group_add(group_name(self.room), self.channel_name)
        self.joined = True
        last_seq = await selectors.last_seq(room=self.room)
        await self.send_event(
            Welcome(room=self.room, name=self.name, worker=worker_id(), last_seq=last_seq)
        )
        await self.send_event(await selectors.history_page(room=self.room))

    async def disconnect(self, code: int) -> None:
        if self.joined:
            await self.channel_layer.group_discard(group_name(self.room), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:
            return
        try:
            event = parse_client_event(text_data if text_data is not None else bytes_data or b"")
            if isinstance(event, MessageIn):
                message = await services.message_create(
                    room=self.room, author=self.name, text=event.text
                )
                await self.send_event(
                    Ack(client_id=event.client_id, id=message.id, seq=message.seq)
                )
            elif isinstance(event, HistoryIn):
                page = await selectors.history_page(
                    room=self.room, before_seq=event.before_seq, limit=event.limit
                )
                await self.send_event(page)
        except (ProtocolError, ServiceError) as exc:
            await self.send_event(Error(code=exc.code, message=exc.message))

    async def chat_message(self, event: dict[str, str]) -> None:
        """A broadcast from the room's group: forward the pre-encoded text."""
        await self.send(text_data=event["text"])

    async def send_event(self, event: ServerEvent) -> None:
        """Send one typed server event."""
        await self.send(text_data=event.encode())
