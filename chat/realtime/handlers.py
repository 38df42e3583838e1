"""RoomHandlers: the answer to each client event, whatever carries it: one method per event
type, each calling one service or selector. ChatConsumer (a WebSocket or an event stream)
and FrameExchange (one frame POSTed over HTTP) are its two transports.

A transport provides `room`, `name`, `account`, `guest_key`, `owner`, `address`,
`channel_name`, `conn_id`, `send_event`, `send_history` and `check_read`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.errors import RateLimited, ServiceError
from chat.identity import accounts
from chat.jobs import service as job_service
from chat.limits import senders
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
    scheduled_list,
    scheduled_reply,
)
from chat.realtime.inflight import InFlight
from chat.realtime.session import UNAVAILABLE
from chat.realtime.socket import INTERNAL_ERROR
from chat.scheduled import services as scheduled_services

log = logging.getLogger(__name__)

# The page sends `typing` every few seconds while a user types; relaying more often is noise.
TYPING_INTERVAL_S = 2.0
UNAVAILABLE_SCHEDULED = "scheduled messages are unavailable right now; try again"


class RoomHandlers:
    """What a room's client may ask, answered with typed events through its transport."""

    # When this client last had its typing relayed (monotonic seconds).
    typing_relayed_at: float = -TYPING_INTERVAL_S
    # This client's messages being stored (made on first use).
    _posts: InFlight | None = None

    def identity(self) -> accounts.Identity:
        return accounts.Identity(name=self.name, account=self.account, guest_key=self.guest_key)

    async def send_error(self, exc: ProtocolError | ServiceError, *, client_id: str | None) -> None:
        """Tell the client why its request failed (and when to retry a rate-limited one)."""
        wait_ms = exc.retry_after_ms if isinstance(exc, RateLimited) else None
        if wait_ms is not None:
            metrics.RATE_LIMITED.inc()
        error = Error(
            code=exc.code, message=exc.message, client_id=client_id, retry_after_ms=wait_ms
        )
        await self.send_event(error)

    def handler(self, event: AnyClientEvent) -> Callable[[Any], Awaitable[None]]:
        """The method that answers this type of client event: `scheduled.list` is answered
        by `on_scheduled_list`, as Channels names layer handlers."""
        return getattr(self, "on_" + event.type.replace(".", "_"))  # type: ignore[no-any-return]

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
