"""Creating messages: stored first, then fanned out through the real Redis channel layer."""

from __future__ import annotations

import asyncio
import json

from channels.layers import get_channel_layer

from chat import selectors, services, store
from chat.protocol import group_name


async def test_message_is_stored_then_broadcast_encoded_once(room: str) -> None:
    """A room member receives the stored message as ready-to-forward JSON text."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(room), channel)
    try:
        message = await services.message_create(room=room, author="alice", text="hi")
        event = await asyncio.wait_for(layer.receive(channel), 5)
    finally:
        await layer.group_discard(group_name(room), channel)
        await layer.flush()
    assert event["type"] == "chat.message"
    assert json.loads(event["text"]) == json.loads(message.encode())
    page = await store.page_before(room, before_seq=None, limit=50)
    assert page.messages == [message]


async def test_history_page_and_last_seq_follow_what_was_stored(room: str) -> None:
    """The welcome's last_seq and the first history page agree with the store."""
    created = [await services.message_create(room=room, author="a", text=str(i)) for i in range(3)]
    assert await selectors.last_seq(room=room) == 3
    page = await selectors.history_page(room=room)
    assert page.messages == created
    assert page.has_more is False
