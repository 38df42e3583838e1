"""The only place that broadcasts: services call notify_* after their write succeeded."""

from __future__ import annotations

import time
from collections.abc import Sequence

from channels.layers import get_channel_layer

from chat import metrics
from chat.protocol import (
    JobEvent,
    MessageOut,
    PresenceJoin,
    PresenceLeave,
    Typing,
    group_name,
    owner_group,
)


@metrics.redis_op("publish")
async def notify_messages(messages: Sequence[MessageOut]) -> None:
    """Fan stored messages of one room out to its members: one publish, each encoded once.

    Messages stored together travel together, so each member can forward them as one frame.
    """
    await get_channel_layer().group_send(
        group_name(messages[0].room),
        {
            "type": "chat.message",
            "texts": [message.encode() for message in messages],
            "seq": max(message.seq for message in messages),
            "published_at": time.time(),
        },
    )


async def notify_typing(*, room: str, name: str, sender: str) -> None:
    """Tell the room's other members that `name` is typing; `sender` does not get it back."""
    await get_channel_layer().group_send(
        group_name(room),
        {"type": "chat.typing", "text": Typing(name=name).encode(), "sender": sender},
    )


async def notify_presence(
    *, room: str, event: PresenceJoin | PresenceLeave, sender: str = ""
) -> None:
    """Tell the room a name joined or left; `sender`, the joining connection, knows already."""
    await get_channel_layer().group_send(
        group_name(room), {"type": "chat.presence", "text": event.encode(), "sender": sender}
    )


async def notify_job(*, owner: str, event: JobEvent) -> None:
    """Tell every open socket of the job's owner that it finished."""
    await get_channel_layer().group_send(
        owner_group(owner), {"type": "job.notice", "text": event.encode()}
    )
