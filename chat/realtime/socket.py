"""SocketConsumer: what every WebSocket consumer here does below its events.

It serves the socket from one queue on one task, contains a failing handler, drops a send
to a client that has just gone, and sends typed events. ChatConsumer builds on it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from chat.errors import RateLimited, ServiceError
from chat.ops import metrics
from chat.protocol import CLOSE_INTERNAL_ERROR, Error, ProtocolError, ServerEvent
from chat.server.channellayer import ChatChannelLayer
from chat.server.inbox import Inbox

log = logging.getLogger(__name__)

INTERNAL_ERROR = "the server failed to handle that; it has been logged"


class SocketConsumer(AsyncWebsocketConsumer):
    """One WebSocket: one task, contained failures, typed events out."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve the socket; with daphne and ChatChannelLayer, from one queue on one task.

        daphne's `receive` is its input queue's `get` (an Inbox in chat.server.daphne_worker,
        an asyncio.Queue in stock daphne): the layer puts this consumer's group messages on
        that same queue, so they and the socket's events arrive in one stream, without a
        channel of its own or Channels' two waiting tasks (chat/server/channellayer.py).
        Anything else (another server, a test communicator) takes Channels' own way.
        """
        layer = get_channel_layer(self.channel_layer_alias)
        inbox = getattr(receive, "__self__", None)
        if not isinstance(layer, ChatChannelLayer) or not isinstance(inbox, (Inbox, asyncio.Queue)):
            await super().__call__(scope, receive, send)
            return
        self.scope, self.channel_layer, self.base_send = scope, layer, send
        self.channel_name = layer.new_local_channel(inbox.put_nowait)
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            layer.discard_local_channel(self.channel_name)

    async def dispatch(self, message: dict[str, object]) -> None:
        """Call the handler named for the event's type.

        Channels' own dispatch first closes stale Django database connections through a
        thread-pool hop on every event: a third of a worker's time under fan-out load
        (docs/performance.md). These handlers do not use Django's database; code that does
        goes through database_sync_to_async, which cleans up around each call itself.

        A handler that fails is contained: a frame's failure is an `error` event and the
        connection goes on; any other closes the socket with 1011 after the disconnect's
        cleanup (its slot, presence and groups), so nothing of it outlives the socket.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            log.exception("conn=%s failed on %s", self.conn_id, message["type"])
            if message["type"] == "websocket.receive":
                await self.send_event(Error(code="internal_error", message=INTERNAL_ERROR))
                return
            await self.close(code=CLOSE_INTERNAL_ERROR)
            await self.disconnect(CLOSE_INTERNAL_ERROR)
            raise StopConsumer from None

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Send a frame; one to a client that has just gone is dropped.

        daphne raises when the socket closed under a send. Raising on would end the consumer
        before it handles the disconnect already queued for it, so the connection would stay
        present (its worker's heartbeat refreshing it), counted and subscribed.
        """
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            log.debug("conn=%s gone before a send", self.conn_id)

    async def send_text(self, text: str) -> None:
        """Send one pre-encoded frame."""
        await self.send(text_data=text)

    async def send_event(self, event: ServerEvent) -> None:
        """Send one typed server event."""
        await self.send(text_data=event.encode())

    async def send_error(self, exc: ProtocolError | ServiceError, *, client_id: str | None) -> None:
        """Tell the client why its request failed (and when to retry a rate-limited one)."""
        wait_ms = exc.retry_after_ms if isinstance(exc, RateLimited) else None
        if wait_ms is not None:
            metrics.RATE_LIMITED.inc()
        error = Error(
            code=exc.code, message=exc.message, client_id=client_id, retry_after_ms=wait_ms
        )
        await self.send_event(error)

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        """Say why, then close: browsers do not expose close reasons reliably."""
        metrics.CONNECTIONS_REFUSED.labels(code).inc()
        log.info("refused conn=%s client=%s code=%s", self.conn_id, self.peer, code)
        await self.send_event(Error(code=code, message=message))
        await self.close(code=close_code)

    @property
    def conn_id(self) -> str:
        """A short id of this connection for log lines (the unique part of its channel name)."""
        return self.channel_name.rsplit(".", 1)[-1][:12]

    @property
    def address(self) -> str:
        """The client's IP address (what the per-address limits count)."""
        client = self.scope.get("client")
        return str(client[0]) if isinstance(client, list | tuple) else "-"

    @property
    def peer(self) -> str:
        """The client's address and port as the server saw them, for logs."""
        client = self.scope.get("client")
        return f"{client[0]}:{client[1]}" if isinstance(client, list | tuple) else "-"
