"""A connection's reads run beside its other frames: a slow history page (a store scan)
does not hold up the client's messages, and still sees its earlier messages stored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat.messages import selectors
from tests.integration.test_consumer_faults import joined

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_slow_history_read_does_not_hold_up_the_clients_messages(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    communicator = await joined(room, "ann")
    for expected in ("welcome", "history", "presence"):
        assert (await communicator.receive_json_from(timeout=5))["type"] == expected
    reading, release = asyncio.Event(), asyncio.Event()
    read_page = selectors.history_page

    async def slow_page(**kwargs: Any) -> Any:
        reading.set()
        await release.wait()
        return await read_page(**kwargs)

    monkeypatch.setattr(selectors, "history_page", slow_page)
    await communicator.send_json_to({"type": "message", "text": "first", "client_id": "c1"})
    await communicator.send_json_to({"type": "history", "before_seq": 100})
    await asyncio.wait_for(reading.wait(), 5)  # the page is read after c1 was stored
    await communicator.send_json_to({"type": "message", "text": "second", "client_id": "c2"})
    seen: list[str] = []
    while "c2" not in seen:
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["type"] != "history", "the page was answered before it was released"
        if frame["type"] == "ack":
            seen.append(frame["client_id"])
    release.set()
    while (frame := await communicator.receive_json_from(timeout=5))["type"] != "history":
        pass
    assert [m["text"] for m in frame["messages"]] == ["first", "second"]
    await communicator.disconnect()
