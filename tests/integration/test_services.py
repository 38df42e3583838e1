"""Creating messages: stored first, then fanned out through the real Redis channel layer."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from channels.layers import get_channel_layer

from chat.errors import ServiceError
from chat.infra.clients import redis
from chat.messages import pages, selectors, sequencing, services, store
from chat.messages.documents import message_id
from chat.protocol import MessageOut, group_name


def _ts() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


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
    assert [json.loads(text) for text in event["texts"]] == [json.loads(message.encode())]
    page = await pages.page_before(room, before_seq=None, limit=50)
    assert page.messages == [message]


async def test_history_page_and_last_seq_follow_what_was_stored(room: str) -> None:
    """The welcome's last_seq and the first history page agree with the store."""
    created = [await services.message_create(room=room, author="a", text=str(i)) for i in range(3)]
    assert await selectors.last_seq(room=room) == 3
    page = await selectors.history_page(room=room)
    assert page.messages == created
    assert page.has_more is False


async def test_concurrent_messages_are_stored_together_and_broadcast_in_one_event(
    room: str,
) -> None:
    """Sent at once: consecutive seqs in call order, all stored, one broadcast with all."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(room), channel)
    try:
        created = await asyncio.gather(
            *(
                services.message_create(room=room, author="a", text=str(i), client_id=f"c{i}")
                for i in range(10)
            )
        )
        broadcasts: list[list[int]] = []
        while sum(map(len, broadcasts)) < len(created):
            event = await asyncio.wait_for(layer.receive(channel), 5)
            broadcasts.append([json.loads(text)["seq"] for text in event["texts"]])
    finally:
        await layer.group_discard(group_name(room), channel)
        await layer.flush()
    assert [m.seq for m in created] == list(range(1, 11))
    assert [m.text for m in created] == [str(i) for i in range(10)]
    page = await pages.page_before(room, before_seq=None, limit=50)
    assert page.messages == created
    assert sorted(seq for seqs in broadcasts for seq in seqs) == list(range(1, 11))
    assert len(broadcasts) < len(created), "each message was published on its own"


async def test_a_resend_within_a_group_stores_once_and_both_get_the_original(room: str) -> None:
    """The same client_id twice in one group: one message, both callers get it."""
    first, again = await asyncio.gather(
        services.message_create(room=room, author="a", text="once", client_id="dup"),
        services.message_create(room=room, author="a", text="once", client_id="dup"),
    )
    assert first == again
    assert await store.count_messages(room=room) == 1


async def test_a_counter_behind_the_store_is_reseeded_for_a_group(room: str) -> None:
    """Redis lost the counter's value: the group's taken seqs are retried above the store."""
    for seq in (1, 2, 3):
        await store.insert_message(
            MessageOut(
                id=message_id(room, seq), seq=seq, room=room, author="x", text="old", ts=_ts()
            )
        )
    await redis().set(sequencing.counter_key(room), 1)
    created = await asyncio.gather(
        *(services.message_create(room=room, author="a", text=f"n{i}") for i in range(4))
    )
    seqs = [m.seq for m in created]
    assert len(set(seqs)) == 4 and min(seqs) > 3
    assert await store.count_messages(room=room) == 7


async def test_a_join_reads_the_newest_page_and_its_highest_seq(room: str) -> None:
    """join_view: the welcome's last_seq is the newest page's last seq; 0 for a new room."""
    assert await selectors.join_view(room=room) == (0, await selectors.history_page(room=room))
    created = [await services.message_create(room=room, author="a", text=str(i)) for i in range(3)]
    # The last one reaches the history tail with its broadcast, just after its write returns.
    async with asyncio.timeout(5):
        while (view := await selectors.join_view(room=room))[0] < created[-1].seq:
            await asyncio.sleep(0.02)
    last_seq, page = view
    assert (last_seq, page.messages) == (created[-1].seq, created)
    assert last_seq == await selectors.last_seq(room=room)


async def test_a_group_that_times_out_still_broadcasts_what_it_stored(
    room: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store answered after the sender's wait: not_stored, yet members get the message,
    and the resend is acknowledged with it."""
    settings.CHAT_STORE_TIMEOUT_S = 0.3
    insert = store.insert_messages

    async def slow_insert(entries: Any) -> Any:
        await asyncio.sleep(0.6)
        return await insert(entries)

    monkeypatch.setattr(store, "insert_messages", slow_insert)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(room), channel)
    try:
        with pytest.raises(ServiceError) as refused:
            await services.message_create(room=room, author="a", text="late", client_id="late")
        assert refused.value.code == "not_stored"
        event = await asyncio.wait_for(layer.receive(channel), 5)
    finally:
        await layer.group_discard(group_name(room), channel)
        await layer.flush()
    (broadcast,) = [json.loads(text) for text in event["texts"]]
    assert (broadcast["text"], broadcast["seq"]) == ("late", 1)
    monkeypatch.setattr(store, "insert_messages", insert)
    resent = await services.message_create(room=room, author="a", text="late", client_id="late")
    assert (resent.id, resent.seq) == (broadcast["id"], 1)


async def test_an_unstorable_message_is_refused_before_its_group_and_the_rest_are_stored(
    room: str,
) -> None:
    """Sent together with a lone surrogate's message: the others are stored and acknowledged."""
    outcomes = await asyncio.gather(
        services.message_create(room=room, author="a", text="one", client_id="c1"),
        services.message_create(room=room, author="a", text="x\ud800", client_id="c2"),
        services.message_create(room=room, author="a", text="two", client_id="c3"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ServiceError) and outcomes[1].code == "invalid_field"
    assert [m.text for m in outcomes if isinstance(m, MessageOut)] == ["one", "two"]
    assert await store.count_messages(room=room) == 2
