"""Scheduled messages: schedule, cancel, and deliver a claimed one exactly once."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.errors import ServiceError
from chat.identity.accounts import Identity
from chat.identity.owners import owner_of
from chat.messages import services
from chat.protocol import MessageOut
from chat.scheduled import rules as scheduling
from chat.scheduled import store as scheduler

log = logging.getLogger(__name__)


async def scheduled_message_create(
    *,
    room: str,
    sender: Identity,
    text: str,
    deliver_at: str | int,
    client_id: str | None = None,
) -> scheduling.ScheduledMessage:
    """Schedule `text` for `deliver_at` (a past time or "now": at once) as `sender`, on
    its owner's list (chat.identity.owners.owner_of: only they see and cancel it).

    A resend with the same `client_id` in the room schedules nothing new and returns the
    first one.
    """
    try:
        due = scheduling.resolve_deliver_at(deliver_at, now_ms=scheduling.to_ms(services.now()))
    except scheduling.ScheduleError as exc:
        raise ServiceError(exc.code, f"deliver_at: {exc.message}") from None
    try:
        # Redis raises a due time it sees as past to its own clock, so schedulers agree.
        return await asyncio.wait_for(
            scheduler.schedule(
                room=room,
                author=sender.name,
                text=text,
                due_ms=due,
                client_id=client_id,
                holder=owner_of(sender),
                account=sender.account,
            ),
            timeout=settings.CHAT_STORE_TIMEOUT_S,
        )
    except (TimeoutError, RedisError) as exc:
        log.warning("message not scheduled in room %s: %s", room, type(exc).__name__)
        raise ServiceError(
            "not_scheduled", "the message could not be scheduled; try again"
        ) from None


async def scheduled_message_cancel(*, room: str, holder: str, scheduled_id: str) -> None:
    """Cancel the holder's pending scheduled message; too late once it is being delivered."""
    try:
        outcome = await scheduler.cancel(scheduled_id=scheduled_id, room=room, holder=holder)
    except scheduling.ScheduleError as exc:
        raise ServiceError(exc.code, exc.message) from None
    except RedisError:
        raise ServiceError("unavailable", "scheduled messages are unavailable; try again") from None
    if outcome == "not_found":
        raise ServiceError("not_found", f"no pending scheduled message {scheduled_id} of yours")
    if outcome == "too_late":
        raise ServiceError("too_late", "that message is being delivered or was delivered")


async def scheduled_message_deliver(*, claim: scheduler.Claim) -> MessageOut:
    """Store a claimed scheduled message under its claimed seq, fan it out, mark it delivered.

    Stored under client_id `sched:<id>`: a second delivery of the same id (its first
    claimer died after storing) stores nothing and returns the first copy.
    """
    try:
        message = await asyncio.wait_for(
            services.store_with_seq(
                room=claim.room,
                author=claim.author,
                text=claim.text,
                client_id=scheduling.store_client_id(claim.id),
                seq=claim.seq,
                account=claim.account,
            ),
            timeout=settings.CHAT_STORE_TIMEOUT_S,
        )
    except (TimeoutError, PyMongoError, RedisError) as exc:
        log.warning("scheduled message %s not stored: %s", claim.id, type(exc).__name__)
        raise ServiceError("not_stored", "the scheduled message could not be stored") from None
    await services.broadcast([message])
    await scheduler.finish(claim.id, message_id=message.id)
    return message
