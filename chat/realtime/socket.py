"""SocketConsumer: what every WebSocket consumer here does below its events.

It contains a failing handler and sends typed events, on chat.server.queueconsumer's
one-queue serving of Channels' consumer. ChatConsumer builds on it.
"""

from __future__ import annotations

import logging

from channels.exceptions import StopConsumer

from chat.ops import metrics
from chat.protocol import CLOSE_INTERNAL_ERROR, Error, ServerEvent
from chat.server.queueconsumer import QueueConsumer

log = logging.getLogger(__name__)

INTERNAL_ERROR = "the server failed to handle that; it has been logged"


class SocketConsumer(QueueConsumer):
    """One WebSocket: contained failures, typed events out."""

    async def dispatch(self, message: dict[str, object]) -> None:
        """Run the event's handler, containing its failure.

        A frame's failure is an `error` event and the connection goes on; any other closes
        the socket with 1011 after the disconnect's cleanup (its slot, presence and
        groups), so nothing of it outlives the socket.
        """
        try:
            await super().dispatch(message)
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

    async def send_text(self, text: str) -> None:
        """Send one pre-encoded frame."""
        await self.send(text_data=text)

    async def send_event(self, event: ServerEvent) -> None:
        """Send one typed server event."""
        await self.send(text_data=event.encode())

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
