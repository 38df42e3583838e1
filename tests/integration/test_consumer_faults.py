"""A consumer whose handler fails: the frame gets an error, or the socket closes after the
disconnect's cleanup; nothing of the connection (its slot, its presence) outlives it.

The failures are injected into the selectors the handlers call: no hostile frame reaches
one any more (tests/e2e/test_hostile_frames.py), yet a bug must still fail alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from chat.limits import connlimits
from chat.messages import selectors
from chat.presence import store as presence
from chat.realtime.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a bug")


async def joined(room: str, name: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/rooms/{room}/?name={name}"
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def test_a_frame_whose_handler_fails_gets_an_error_and_the_socket_goes_on(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    communicator = await joined(room, "ann")
    for expected in ("welcome", "history", "presence"):
        assert (await communicator.receive_json_from(timeout=5))["type"] == expected
    monkeypatch.setattr(selectors, "history_page", broken)
    await communicator.send_json_to({"type": "history", "before_seq": 5})
    error = await communicator.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "internal_error")
    await communicator.send_json_to({"type": "history", "after_seq": 0})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "history"
    await communicator.disconnect()


async def test_a_connect_that_fails_closes_1011_and_releases_slot_and_presence(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "presence_now", broken)
    communicator = await joined(room, "bob")
    for expected in ("welcome", "history"):
        assert (await communicator.receive_json_from(timeout=5))["type"] == expected
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1011}
    assert connlimits._worker().open == {}
    assert (await presence.members(room)).count == 0
    await communicator.wait(timeout=5)
