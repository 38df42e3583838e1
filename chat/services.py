"""State changes. Each stores first, then broadcasts through chat.events."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from bson import ObjectId
from django.conf import settings
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat import events, recovery, sequencing, store
from chat.errors import ServiceError
from chat.protocol import MessageOut

log = logging.getLogger(__name__)

# A seq already taken means the counter fell behind the store (Redis lost it); a few
# re-seeds always catch up, more would mean something else is wrong.
_MAX_SEQ_ATTEMPTS = 5


def _now() -> datetime:
    # MongoDB keeps milliseconds; truncate so live and replayed messages carry the same ts.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def message_create(
    *, room: str, author: str, text: str, client_id: str | None = None
) -> MessageOut:
    """Store a message with the room's next seq, then fan it out; return it for the ack.

    A resend of a stored `client_id` stores nothing and returns the original message,
    broadcast again in case its first broadcast was lost (receivers drop it by seq).
    """
    try:
        message = await asyncio.wait_for(
            _store_with_next_seq(room=room, author=author, text=text, client_id=client_id),
            timeout=settings.CHAT_STORE_TIMEOUT_S,
        )
    except (TimeoutError, PyMongoError, RedisError) as exc:
        log.warning("message not stored in room %s: %s", room, type(exc).__name__)
        raise ServiceError("not_stored", "the message could not be stored; try again") from None
    try:
        await events.notify_message(message)
    except RedisError as exc:
        # Stored is what counts: members catch up by seq once Redis is back.
        recovery.note_broadcast_failed()
        log.warning("message %s stored but not broadcast: %s", message.id, exc)
    return message


async def _store_with_next_seq(
    *, room: str, author: str, text: str, client_id: str | None
) -> MessageOut:
    seq = await sequencing.next_seq(room)
    for _ in range(_MAX_SEQ_ATTEMPTS):
        message = MessageOut(
            id=str(ObjectId()), seq=seq, room=room, author=author, text=text, ts=_now()
        )
        try:
            await store.insert_message(message, client_id=client_id)
            return message
        except store.DuplicateClientId:
            # The seq taken for this attempt stays unused: seqs may skip, never repeat.
            original = await store.find_by_client_id(room, client_id or "")
            if original is not None:
                return original
        except store.DuplicateSeq:
            pass
        seq = await sequencing.reseed_and_next(room)
    raise ServiceError("not_stored", "no free sequence number; try again")
