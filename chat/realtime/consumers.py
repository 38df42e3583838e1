"""ChatConsumer: one per WebSocket. A handler table: one method per client event type, each
calling one service or selector; admission, identity and the write and read limits are
services the REST API shares (chat.limits, chat.identity)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.errors import ServiceError
from chat.jobs import service as job_service
from chat.limits import readlimits, senders
from chat.messages import selectors, services
from chat.ops import metrics
from chat.protocol import (
    Ack,
    AnyClientEvent,
    Error,
    HistoryIn,
    JobSeenIn,
    MessageIn,
    ProtocolError,
    ScheduledCancelIn,
    ScheduledCancelled,
    ScheduledListIn,
    ScheduleIn,
    SearchIn,
    TypingIn,
    parse_client_event,
    scheduled_list,
    scheduled_reply,
)
from chat.realtime.inflight import InFlight
from chat.realtime.session import UNAVAILABLE, RoomSession
from chat.realtime.socket import INTERNAL_ERROR
from chat.scheduled import services as scheduled_services

log = logging.getLogger(__name__)

# The page sends `typing` every few seconds while a user types; relaying more often is noise.
TYPING_INTERVAL_S = 2.0
# Reads answered beside the connection's other frames: a page of history or a search can
# take a store scan, which must not hold up the client's messages behind it.
READS = (HistoryIn, SearchIn, ScheduledListIn)
# A connection's reads at once; past that it stops reading frames until one is answered.
MAX_READS_IN_FLIGHT = 4
UNAVAILABLE_SCHEDULED = "scheduled messages are unavailable right now; try again"


class ChatConsumer(RoomSession):
    """A member of one room: receives its broadcasts, posts messages, pages history."""

    # Its history and search buckets (made on its first read).
    reads: readlimits.ConnectionReads | None = None
    # When this connection last had its typing relayed (monotonic seconds).
    typing_relayed_at: float = -TYPING_INTERVAL_S
    # This client's messages being stored, and its reads being answered (made on first use).
    _posts: InFlight | None = None
    _reads: InFlight | None = None

    def handler(self, event: AnyClientEvent) -> Callable[[Any], Awaitable[None]]:
        """The method that answers this type of client event: `scheduled.list` is answered
        by `on_scheduled_list`, as Channels names layer handlers."""
        return getattr(self, "on_" + event.type.replace(".", "_"))  # type: ignore[no-any-return]

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

    async def answer(
        self, event: AnyClientEvent, *, after: Sequence[asyncio.Task[None]] = ()
    ) -> None:
        """Run the event's handler (once `after` has finished); its failure is an `error`,
        also where it runs beside the receive loop (a read), out of SocketConsumer's reach."""
        try:
            await InFlight.finished(after)
            await self.handler(event)(event)
        except (ProtocolError, ServiceError) as exc:
            await self.send_error(exc, client_id=getattr(event, "client_id", None))
        except PyMongoError:
            log.warning("history read failed in room %s", self.room, exc_info=True)
            await self.send_event(Error(code="unavailable", message=UNAVAILABLE))
        except RedisError:
            log.warning("scheduled list failed in room %s", self.room, exc_info=True)
            await self.send_event(Error(code="unavailable", message=UNAVAILABLE_SCHEDULED))
        except Exception:
            log.exception("conn=%s failed on %s", self.conn_id, event.type)
            await self.send_event(Error(code="internal_error", message=INTERNAL_ERROR))

    def posts(self) -> InFlight:
        """This connection's messages being stored."""
        if self._posts is None:
            self._posts = InFlight()
        return self._posts

    def check_write(self, client_id: str | None) -> None:
        """Count a message or schedule against this sender's write limit (and its address)."""
        senders.check_write(identity=self.identity(), address=self.address, client_id=client_id)

    def check_read(self, read: readlimits.Read) -> None:
        """Count a history page or search against this connection (and its address)."""
        if self.reads is None:
            self.reads = readlimits.ConnectionReads()
        self.reads.check(read, self.address)

    async def on_message(self, event: MessageIn) -> None:
        self.check_write(event.client_id)
        # Stored concurrently with this client's next messages, so they share a write.
        await self.posts().start(self.post_message(event))

    async def post_message(self, event: MessageIn) -> None:
        """Store the client's message and acknowledge it, or tell it why not."""
        try:
            message = await services.message_create(
                room=self.room,
                author=self.name,
                text=event.text,
                client_id=event.client_id,
                account=self.account,
            )
        except Exception as exc:
            if not isinstance(exc, ServiceError):
                log.exception("conn=%s: a message failed unexpectedly", self.conn_id)
                exc = ServiceError("internal_error", INTERNAL_ERROR)
            await self.send_event(
                Error(code=exc.code, message=exc.message, client_id=event.client_id)
            )
            return
        await self.send_event(Ack(client_id=event.client_id, id=message.id, seq=message.seq))
        self.typing_relayed_at = -TYPING_INTERVAL_S  # the next keystroke starts anew

    async def on_history(self, event: HistoryIn) -> None:
        self.check_read("history")
        await self.send_history(await selectors.history_for(room=self.room, request=event))

    async def on_search(self, event: SearchIn) -> None:
        self.check_read("search")
        await self.send_event(
            await selectors.search(
                room=self.room, q=event.q, before_seq=event.before_seq, limit=event.limit
            )
        )

    async def on_schedule(self, event: ScheduleIn) -> None:
        self.check_write(event.client_id)
        scheduled = await scheduled_services.scheduled_message_create(
            room=self.room,
            sender=self.identity(),
            text=event.text,
            deliver_at=event.deliver_at,
            client_id=event.client_id,
        )
        await self.send_event(scheduled_reply(scheduled, client_id=event.client_id))

    async def on_scheduled_list(self, event: ScheduledListIn) -> None:
        pending = await selectors.scheduled_pending(room=self.room, holder=self.owner)
        await self.send_event(scheduled_list(pending))

    async def on_scheduled_cancel(self, event: ScheduledCancelIn) -> None:
        await scheduled_services.scheduled_message_cancel(
            room=self.room, holder=self.owner, scheduled_id=event.id
        )
        await self.send_event(ScheduledCancelled(id=event.id))

    async def on_typing(self, event: TypingIn) -> None:
        """Pass 'typing' on to the room, at most once per TYPING_INTERVAL_S per connection."""
        now = time.monotonic()
        if now - self.typing_relayed_at < TYPING_INTERVAL_S:
            return
        self.typing_relayed_at = now
        await services.typing_announce(room=self.room, name=self.name, sender=self.channel_name)

    async def on_job_seen(self, event: JobSeenIn) -> None:
        await job_service.job_seen(owner=self.owner, job_id=event.id)
