"""A room too big to list in Chromium: the page counts everyone, from the snapshot and after."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from websockets.sync.client import ClientConnection, connect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PageOpener, join

pytestmark = pytest.mark.services

LIST_MAX = 3


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """A server that lists at most LIST_MAX names: a room of five is 'big'."""
    require_services()
    with run_chat_server(workers=2, env={"CHAT_PRESENCE_LIST_MAX": str(LIST_MAX)}) as server:
        yield server


def member(
    sockets: contextlib.ExitStack, server: ChatServer, room: str, name: str
) -> ClientConnection:
    """A socket in the room (closed with `sockets`), past its presence snapshot."""
    ws = sockets.enter_context(connect(server.ws_url(room, name), open_timeout=10))
    while json.loads(ws.recv(timeout=10))["type"] != "presence":
        pass
    return ws


def test_a_room_too_big_to_list_shows_how_many_are_online(
    chat_server: ChatServer, open_page: PageOpener
) -> None:
    room = f"big-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as sockets:
        others = [member(sockets, chat_server, room, f"member{i}") for i in range(4)]
        page = open_page(f"/r/{room}/")
        join(page, "Zed")
        title = page.locator("#presence-title")
        expect(title).to_have_text("5 online")  # the snapshot's count, not its 3 names
        expect(page.locator("#presence-list")).to_contain_text("Zed (you)")
        member(sockets, chat_server, room, "late")
        expect(title).to_have_text("6 online")  # a presence.count
        for ws in others[:3]:
            ws.close()
        expect(title).to_have_text("3 online")
        # Listable again: the whole list anew, with the name that only came as a count.
        listed = page.locator("#presence-list")
        expect(listed).to_contain_text("late")
        expect(listed).not_to_contain_text("member0")
