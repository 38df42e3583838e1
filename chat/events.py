"""The only place that broadcasts: services call notify_* after their write succeeded."""

from __future__ import annotations

from collections.abc import Sequence

from channels.layers import get_channel_layer

from chat.protocol import MessageOut, Typing, group_name


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
        },
    )


async def notify_typing(*, room: str, name: str, sender: str) -> None:
    """Tell the room's other members that `name` is typing; `sender` does not get it back."""
    await get_channel_layer().group_send(
        group_name(room),
        {"type": "chat.typing", "text": Typing(name=name).encode(), "sender": sender},
    )
