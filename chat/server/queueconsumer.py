"""QueueConsumer: Channels' AsyncWebsocketConsumer served from daphne's one input queue.

The overrides of Channels' own serving (its `__call__`, `dispatch`) and of a send under a
closed socket (daphne and autobahn raise) live here, beside the other library overrides of
the server package; tests/unit/test_library_contracts.py fails when what they rely on
changes. chat.realtime.socket.SocketConsumer builds the project's consumer on it.
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

from chat.server.channellayer import ChatChannelLayer
from chat.server.inbox import Inbox

log = logging.getLogger(__name__)


class QueueConsumer(AsyncWebsocketConsumer):
    """One WebSocket served on one task, its handlers called without a thread hop."""

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
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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
            log.debug("conn=%s gone before a send", self.channel_name)
