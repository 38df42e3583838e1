"""The only place that broadcasts: services call notify_* after their write succeeded."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from chat.broadcast import recovery
from chat.broadcast.coalesce import Coalescer
from chat.ops import metrics
from chat.presence import store as presence
from chat.protocol import (
    JobEvent,
    MessageOut,
    Presence,
    PresenceCount,
    PresenceJoin,
    PresenceLeave,
    Typing,
    group_name,
    owner_group,
)
from chat.protocol.layer import ChatMessage, ChatPresence, ChatTyping, JobNotice

log = logging.getLogger(__name__)


@metrics.redis_op("publish")
async def notify_messages(messages: Sequence[MessageOut]) -> None:
    """Fan stored messages of one room out to its members: one publish, each encoded once.

    Messages stored together travel together, so each member can forward them as one frame.
    """
    message: ChatMessage = {
        "type": "chat.message",
        "texts": [message.encode() for message in messages],
        "seq": max(message.seq for message in messages),
        "published_at": time.time(),
    }
    await get_channel_layer().group_send(group_name(messages[0].room), message)


async def publish_messages(messages: Sequence[MessageOut]) -> None:
    """notify_messages, once more if Redis closed a pooled connection meanwhile; after that,
    stored is what counts: members are caught up from the store once Redis answers again."""
    for attempt in (1, 2):
        try:
            await notify_messages(messages)
            return
        except RedisError as exc:
            if attempt == 2:
                recovery.note_broadcast_failed()
                log.warning(
                    "%d messages stored but not broadcast (up to seq %d): %s",
                    len(messages),
                    messages[-1].seq,
                    exc,
                )


async def notify_typing(*, room: str, name: str, sender: str) -> None:
    """Tell the room's other members that `name` is typing; `sender` does not get it back."""
    typing: ChatTyping = {
        "type": "chat.typing",
        "text": Typing(name=name).encode(),
        "sender": sender,
    }
    await get_channel_layer().group_send(group_name(room), typing)


# Presence changes go out in groups per room: a join storm (everyone reconnecting after a
# deploy) would otherwise cost members x joins sends. The first change of a room waits this
# long before the group is published; the wait grows with the room's members here, so each
# worker sends a room's members at most about PRESENCE_MEMBERS_PER_S presence frames a second.
PRESENCE_DELAY_MIN_S = 0.05
PRESENCE_DELAY_MAX_S = 10.0
PRESENCE_MEMBERS_PER_S = 500

PresenceChange = tuple[str, PresenceJoin | PresenceLeave]  # (connection that knows it, change)


def presence_delay_s(members_here: int) -> float:
    """How long a room's presence changes are gathered before they are published."""
    return min(
        PRESENCE_DELAY_MAX_S, max(PRESENCE_DELAY_MIN_S, members_here / PRESENCE_MEMBERS_PER_S)
    )


def presence_events(
    changes: list[PresenceChange], *, present: int, list_max: int
) -> list[tuple[str, str]]:
    """What a group of changes tells the room: each change while the room is small enough to
    list; above `list_max` names present, only how many (each name would reach every member:
    members x joins bytes)."""
    if present <= list_max:
        return [(sender, change.encode()) for sender, change in changes]
    version = max(change.version for _, change in changes)
    return [("", PresenceCount(count=present, version=version).encode())]


@metrics.redis_op("publish_presence")
async def _publish_presence(room: str, changes: list[PresenceChange]) -> None:
    list_max = settings.CHAT_PRESENCE_LIST_MAX
    present, relist = await presence.announcing(room, list_max=list_max)
    if relist:
        # Small enough to list again, but the names that came and went meanwhile were only
        # counted: everyone gets the whole list anew instead of these changes.
        found = await presence.members(room, limit=list_max)
        snapshot = Presence(members=found.names, count=found.count, version=found.version)
        texts = [("", snapshot.encode())]
    else:
        texts = presence_events(changes, present=present, list_max=list_max)
    changed: ChatPresence = {"type": "chat.presence", "events": [list(t) for t in texts]}
    await get_channel_layer().group_send(group_name(room), changed)


presence_changes: Coalescer[str, PresenceChange] = Coalescer(
    _publish_presence, delay=lambda room: presence_delay_s(presence.local_count(room))
)


def notify_presence(*, room: str, event: PresenceJoin | PresenceLeave, sender: str = "") -> None:
    """Tell the room a name joined or left (soon, with the room's other changes); `sender`,
    the joining connection, knows already."""
    presence_changes.add(room, (sender, event))


async def notify_job(*, owner: str, event: JobEvent) -> None:
    """Tell every open socket of the job's owner that it finished."""
    notice: JobNotice = {"type": "job.notice", "text": event.encode()}
    await get_channel_layer().group_send(owner_group(owner), notice)
