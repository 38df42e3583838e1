"""ChatConsumer: one per WebSocket (or event stream, chat.server.eventstream): the room's
session (chat.realtime.session) answering each frame with its handler (chat.realtime.handlers)."""

from __future__ import annotations

from chat.limits import readlimits
from chat.ops import metrics
from chat.protocol import (
    HistoryIn,
    MessageIn,
    ProtocolError,
    ScheduledListIn,
    SearchIn,
    parse_client_event,
)
from chat.realtime.handlers import RoomHandlers
from chat.realtime.inflight import InFlight
from chat.realtime.session import RoomSession

# Reads answered beside the connection's other frames: a page of history or a search can
# take a store scan, which must not hold up the client's messages behind it.
READS = (HistoryIn, SearchIn, ScheduledListIn)
# A connection's reads at once; past that it stops reading frames until one is answered.
MAX_READS_IN_FLIGHT = 4


class ChatConsumer(RoomHandlers, RoomSession):
    """A member of one room: receives its broadcasts, posts messages, pages history."""

    # Its history and search buckets (made on its first read).
    reads: readlimits.ConnectionReads | None = None
    # Its reads being answered (made on first use).
    _reads: InFlight | None = None

    def check_read(self, read: readlimits.Read) -> None:
        """Count a history page or search against this connection (and its address)."""
        if self.reads is None:
            self.reads = readlimits.ConnectionReads()
        self.reads.check(read, self.address)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:
            return
        try:
            event = parse_client_event(text_data if text_data is not None else bytes_data or b"")
        except ProtocolError as exc:
            await self.send_error(exc, client_id=None)
            return
        if isinstance(event, MessageIn):
            metrics.MESSAGES_RECEIVED.inc()
            await self.answer(event)
            return
        # Anything else sees this client's earlier messages stored (a history read).
        earlier = self.posts().started()
        if isinstance(event, READS):
            if self._reads is None:
                self._reads = InFlight(MAX_READS_IN_FLIGHT)
            await self._reads.start(self.answer(event, after=earlier))
        else:
            await self.answer(event, after=earlier)
