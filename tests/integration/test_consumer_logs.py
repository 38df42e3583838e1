"""What a connection writes to the log: one line at open and close, never message text."""

from __future__ import annotations

import logging

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from chat.realtime.routing import websocket_urlpatterns

# A guest's name is checked against the accounts table at connect.
pytestmark = pytest.mark.django_db(transaction=True)


async def test_open_and_close_are_logged_without_message_text(
    room: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Operators see who connected where; what people wrote stays out of info logs."""
    caplog.set_level(logging.INFO, logger="chat")
    app = URLRouter(websocket_urlpatterns)
    communicator = WebsocketCommunicator(app, f"/ws/rooms/{room}/?name=ann")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.receive_json_from(timeout=5)  # welcome
    await communicator.receive_json_from(timeout=5)  # history
    await communicator.receive_json_from(timeout=5)  # presence
    await communicator.send_json_to({"type": "message", "text": "secret plans", "client_id": "c"})
    kinds = set()
    for _ in range(2):  # the ack and the broadcast, in either order
        kinds.add((await communicator.receive_json_from(timeout=5))["type"])
    assert kinds == {"ack", "message"}
    await communicator.disconnect()
    lines = [r.getMessage() for r in caplog.records if r.name == "chat.realtime.session"]
    assert any(line.startswith("open conn=") and f"room={room}" in line for line in lines)
    assert any(line.startswith("close conn=") and f"room={room}" in line for line in lines)
    assert not any("secret plans" in r.getMessage() for r in caplog.records)
