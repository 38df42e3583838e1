"""The page where WebSockets are blocked, in Chromium against real runchat: it falls back to
an event stream, and to long-polling where streams fail too, with the same delivery."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Request, Route, WebSocketRoute, expect
from websockets.sync.client import ClientConnection

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import SCREENSHOTS, PageOpener, join, message_texts
from tests.e2e.test_browser import (
    MESSAGES,
    RECORD_STATUS,
    SAW_RECONNECTING,
    SEQS_SHOWN,
    connect_avoiding,
    post,
    seed,
    send,
    served_by,
)

pytestmark = pytest.mark.services

# Three refused WebSockets with backoff (0.5, 1, 2 s) come before the fallback.
FALLBACK_MS = 15_000


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """runchat with two workers: the page's stream on one, a WebSocket writer on the other."""
    require_services()
    with run_chat_server(workers=2) as server:
        yield server


def block_websockets(page: Page) -> list[str]:
    """Refuse every WebSocket the page opens, as a proxy that drops upgrades; the URLs tried."""
    tried: list[str] = []

    def refuse(route: WebSocketRoute) -> None:
        tried.append(route.url)
        route.close()

    page.route_web_socket(re.compile(r"/ws/rooms/"), refuse)
    return tried


def requests_to(page: Page, part: str) -> list[str]:
    """The URLs of the page's requests whose path contains `part`, as they go out."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if part in request.url else None)
    return seen


def heard_by(ws: ClientConnection, text: str) -> dict[str, Any]:
    """The message with this text as the client receives it (other events skipped; bounded)."""
    deadline = time.monotonic() + 10
    while (remaining := deadline - time.monotonic()) > 0:
        frame = json.loads(ws.recv(timeout=remaining))
        for event in frame["events"] if frame["type"] == "batch" else [frame]:
            if event["type"] == "message" and event["text"] == text:
                return event
    raise AssertionError(f"{text!r} did not reach the WebSocket client")


def wait_on_transport(page: Page, transport: str) -> None:
    status = page.locator("#status")
    expect(status).to_have_attribute("data-transport", transport, timeout=FALLBACK_MS)
    expect(status).to_have_attribute("data-state", "online", timeout=FALLBACK_MS)


def open_blocked(open_page: PageOpener, room: str, name: str) -> tuple[Page, list[str]]:
    """A page of `room` whose WebSockets are refused, joined as `name`, before it connects."""
    page = open_page("about:blank")
    tried = block_websockets(page)
    page.goto(f"/r/{room}/")
    dialog = page.locator("#name-dialog")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_role("button", name="Join").click()
    return page, tried


def test_a_page_without_websockets_chats_over_an_event_stream(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """Refused WebSockets: the page says it is on an event stream, shows the history, and
    talks both ways with a WebSocket user on the other worker."""
    before = seed(chat_server, room, 3)
    page, tried = open_blocked(open_page, room, "Streamer")
    wait_on_transport(page, "stream")
    assert len(tried) >= 3
    expect(page.locator("#status")).to_have_text("Connected · event stream")
    expect(page.locator(MESSAGES + " .text")).to_have_text(before)
    page.screenshot(path=SCREENSHOTS / "fallback-stream.png")

    with connect_avoiding(chat_server, room, "Writer", served_by(page)) as writer:
        post(writer, "hello from a socket", "w-1")
        expect(page.locator(MESSAGES + " .text").last).to_have_text("hello from a socket")
        send(page, "hello from a stream")
        expect(page.locator(MESSAGES + " .text").last).to_have_text("hello from a stream")
        heard = heard_by(writer, "hello from a stream")
        assert heard["author"] == "Streamer"
    assert message_texts(page) == [*before, "hello from a socket", "hello from a stream"]


def test_a_page_on_an_event_stream_resumes_after_its_worker_is_killed(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """SIGKILL the stream's worker: the page reconnects its stream with after_seq and shows
    what was said meanwhile once, in order."""
    before = seed(chat_server, room, 3)
    page, _tried = open_blocked(open_page, room, "Reader")
    streams = requests_to(page, "/stream")
    wait_on_transport(page, "stream")
    expect(page.locator(MESSAGES + " .text")).to_have_text(before)
    worker = served_by(page)
    page.evaluate(RECORD_STATUS)

    with connect_avoiding(chat_server, room, "Writer", worker) as writer:
        os.kill(int(worker.split("-")[1]), signal.SIGKILL)  # runchat starts a new one
        page.wait_for_function(SAW_RECONNECTING, timeout=FALLBACK_MS)
        missed = [f"said while you were away {n}" for n in range(1, 4)]
        for number, text in enumerate(missed):
            post(writer, text, f"missed-{number}")
        wait_on_transport(page, "stream")
        live = ["said after you came back"]
        post(writer, live[0], "live-0")
        expected = before + missed + live
        expect(page.locator(MESSAGES + " .text")).to_have_text(expected, timeout=FALLBACK_MS)
        seqs = page.locator(MESSAGES).evaluate_all(SEQS_SHOWN)
        assert seqs == sorted(set(seqs)) and len(seqs) == len(expected), seqs
    resumed = [url for url in streams if "after_seq=" in url]
    assert resumed and all(url.endswith(f"after_seq={seqs[2]}") for url in resumed)


def test_where_streams_fail_too_the_page_long_polls(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """Refused WebSockets and event streams: the page long-polls, with the same timeline."""
    before = seed(chat_server, room, 2)
    page = open_page("about:blank")
    block_websockets(page)

    def no_streams(route: Route, request: Request) -> None:
        route.abort()

    page.route(re.compile(r"/api/rooms/[^/]+/stream"), no_streams)
    polls = requests_to(page, "/events")
    page.goto(f"/r/{room}/")
    join_after_fallback = page.locator("#name-dialog")
    join_after_fallback.get_by_label("Name").fill("Poller")
    join_after_fallback.get_by_role("button", name="Join").click()
    wait_on_transport(page, "poll")
    expect(page.locator("#status")).to_have_text("Connected · long-polling")
    expect(page.locator(MESSAGES + " .text")).to_have_text(before)

    with connect_avoiding(chat_server, room, "Writer", "") as writer:
        post(writer, "to the poller", "w-1")
        expect(page.locator(MESSAGES + " .text").last).to_have_text("to the poller")
    send(page, "from the poller")
    expect(page.locator(MESSAGES + " .text").last).to_have_text("from the poller")
    assert message_texts(page) == [*before, "to the poller", "from the poller"]
    assert any("wait_s=" in url for url in polls)


def test_a_page_on_a_fallback_goes_back_to_a_websocket_when_it_can(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """Once WebSockets open again (tried every minute, or when the network comes back), the
    page moves to one, resuming after the newest message it shows: nothing twice."""
    before = seed(chat_server, room, 2)
    page, _tried = open_blocked(open_page, room, "Mover")
    wait_on_transport(page, "stream")
    expect(page.locator(MESSAGES + " .text")).to_have_text(before)
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    # The newest route wins: WebSockets pass from now on.
    page.route_web_socket(re.compile(r"/ws/rooms/"), lambda route: route.connect_to_server())
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait_on_transport(page, "websocket")
    expect(page.locator("#status")).to_have_text("Connected")
    with connect_avoiding(chat_server, room, "Writer", "") as writer:
        post(writer, "over the socket again", "w-1")
    expect(page.locator(MESSAGES + " .text")).to_have_text([*before, "over the socket again"])
    assert any(url.endswith("&after_seq=2") for url in sockets), sockets


def test_a_page_with_websockets_never_falls_back(open_page: PageOpener, room: str) -> None:
    """WebSockets work: the status line names no fallback."""
    page = open_page(f"/r/{room}/")
    join(page, "Socket")
    expect(page.locator("#status")).to_have_attribute("data-transport", "websocket")
    expect(page.locator("#status")).to_have_text("Connected")
