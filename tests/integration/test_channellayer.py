"""ChatChannelLayer (chat.server.channellayer) on the real Redis: in-process consumer channels."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.conf import settings

from chat.server.channellayer import ChatChannelLayer

WAIT_S = 10.0


@pytest.fixture
async def layer() -> AsyncIterator[ChatChannelLayer]:
    made = ChatChannelLayer(hosts=[settings.REDIS_URL], prefix=f"t{uuid.uuid4().hex[:8]}")
    yield made
    await made.flush()


async def until(check: Any) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.01)


async def test_group_messages_reach_local_channels_decoded_once(layer: ChatChannelLayer) -> None:
    """Every local member of a group gets the message, as the very same decoded object; a
    channel of the stock kind in the same group still gets it through its queue."""
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    group = "room"
    await layer.group_add(group, layer.new_local_channel(first.append))
    await layer.group_add(group, layer.new_local_channel(second.append))
    stock = await layer.new_channel()
    await layer.group_add(group, stock)
    await layer.group_send(group, {"type": "chat.message", "n": 1})
    await until(lambda: first and second)
    assert first == [{"type": "chat.message", "n": 1}] and first[0] is second[0]
    assert await asyncio.wait_for(layer.receive(stock), WAIT_S) == first[0]


async def test_a_discarded_local_channel_gets_nothing_more(layer: ChatChannelLayer) -> None:
    kept: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    await layer.group_add("room", layer.new_local_channel(kept.append))
    leaving = layer.new_local_channel(gone.append)
    await layer.group_add("room", leaving)
    await layer.group_add("other", leaving)
    await layer.group_discard("other", leaving)
    layer.discard_local_channel(leaving)
    await layer.group_send("room", {"type": "t", "n": 1})
    await layer.group_send("other", {"type": "t", "n": 2})
    # The marker: published after both on the same subscription, so it arrives after them.
    await layer.group_send("room", {"type": "t", "n": 3})
    await until(lambda: len(kept) == 2)
    assert kept == [{"type": "t", "n": 1}, {"type": "t", "n": 3}] and gone == []
