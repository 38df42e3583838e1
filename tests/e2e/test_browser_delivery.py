"""The page's delivery in Chromium against real runchat: lost broadcasts, a killed worker,
a lost ack, a message not stored, scrolling back through history."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import WebSocket, WebSocketRoute, expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import WAIT_MS, PageOpener, join, message_texts, wait_online
from tests.e2e.test_browser import (
    MESSAGES,
    RECORD_STATUS,
    SAW_RECONNECTING,
    SCROLL_TO_TOP,
    SEQS_SHOWN,
    connect_avoiding,
    post,
    seed,
    send,
    served_by,
    wait_for,
)

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """runchat with two workers, so a page can lose its worker and resume on the other."""
    require_services()
    with run_chat_server(workers=2) as server:
        yield server


def test_a_lost_broadcast_is_fetched_from_history(open_page: PageOpener, room: str) -> None:
    """When a seq is skipped on the live stream the page fills the hole, in order."""
    page = open_page(f"/r/{room}/")
    lost = "lost in transit"

    def drop_one_broadcast(route: WebSocketRoute) -> None:
        def forward(frame: str | bytes) -> None:
            event = json.loads(frame)
            events = event["events"] if event["type"] == "batch" else [event]
            kept = [e for e in events if not (e["type"] == "message" and e["text"] == lost)]
            if len(kept) == len(events):
                route.send(frame)
            elif kept:
                route.send(json.dumps({"type": "batch", "events": kept}))

        route.connect_to_server().on_message(forward)

    page.route_web_socket(re.compile(r"/ws/rooms/"), drop_one_broadcast)
    join(page, "Reader")
    other = open_page(f"/r/{room}/")
    join(other, "Writer")
    for text in ("before", lost, "after"):
        send(other, text)
    expect(page.locator(MESSAGES + " .text")).to_have_text(["before", lost, "after"])


def test_a_page_whose_worker_is_killed_resumes_and_shows_what_it_missed_once_in_order(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """SIGKILL the page's worker: it says so, reconnects with after_seq, misses nothing, repeats
    nothing, while another client on the other worker keeps talking."""
    before = seed(chat_server, room, 3)
    page = open_page(f"/r/{room}/")
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    join(page, "Reader")
    expect(page.locator(MESSAGES + " .text")).to_have_text(before)
    worker = served_by(page)
    page.evaluate(RECORD_STATUS)

    with connect_avoiding(chat_server, room, "Writer", worker) as writer:
        os.kill(int(worker.split("-")[1]), signal.SIGKILL)  # runchat starts a new one
        page.wait_for_function(SAW_RECONNECTING, timeout=WAIT_MS)
        missed = [f"said while you were away {n}" for n in range(1, 4)]
        for number, text in enumerate(missed):
            post(writer, text, f"missed-{number}")
        wait_online(page)
        assert served_by(page) != worker
        live = [f"said after you came back {n}" for n in range(1, 3)]
        for number, text in enumerate(live):
            post(writer, text, f"live-{number}")

        expected = before + missed + live
        expect(page.locator(MESSAGES + " .text")).to_have_text(expected)
        page.wait_for_timeout(300)  # a late duplicate would show up by now
        seqs = page.locator(MESSAGES).evaluate_all(SEQS_SHOWN)
        assert len(seqs) == len(expected)
        assert seqs == sorted(set(seqs)), f"duplicates or disorder: {seqs}"
        assert message_texts(page) == expected

    assert "after_seq" not in sockets[0].url
    assert len(sockets) >= 2
    assert all(socket.url.endswith(f"&after_seq={seqs[2]}") for socket in sockets[1:])


def test_a_send_whose_ack_was_lost_is_resent_after_reconnect_and_stored_once(
    open_page: PageOpener, room: str
) -> None:
    """The socket drops after the server stored a message but before its ack arrived: the page
    keeps it pending, resends it with the same client_id, and shows it exactly once."""
    page = open_page(f"/r/{room}/")
    routes: list[WebSocketRoute] = []
    sent: list[dict[str, Any]] = []
    withheld: list[dict[str, Any]] = []

    def cut_before_ack(route: WebSocketRoute) -> None:
        server = route.connect_to_server()
        first = not routes
        routes.append(route)

        def to_server(frame: str | bytes) -> None:
            event = json.loads(frame)
            if event["type"] == "message":
                sent.append(event)
            server.send(frame)

        def to_page(frame: str | bytes) -> None:
            event = json.loads(frame)
            if first and event["type"] in ("ack", "message"):
                withheld.append(event)  # stored, but the page never hears of it
            else:
                route.send(frame)

        route.on_message(to_server)
        server.on_message(to_page)

    page.route_web_socket(re.compile(r"/ws/rooms/"), cut_before_ack)
    join(page, "Alice")
    send(page, "did this arrive?")
    wait_for(page, lambda: any(e["type"] == "ack" for e in withheld), "the server's ack")
    expect(page.locator("#messages li.message.pending .text")).to_have_text(["did this arrive?"])

    routes[0].close(code=1012, reason="restarting")
    expect(page.locator(MESSAGES + " .text")).to_have_text(["did this arrive?"])
    expect(page.locator("#messages li.message.pending")).to_have_count(0)
    wait_online(page)
    assert len(sent) == 2, sent
    assert sent[0]["client_id"] == sent[1]["client_id"]

    reader = open_page(f"/r/{room}/")
    join(reader, "Bob")
    expect(reader.locator(MESSAGES + " .text")).to_have_text(["did this arrive?"])


def test_a_message_not_stored_shows_as_failed_and_retry_resends_the_same_client_id(
    open_page: PageOpener, room: str
) -> None:
    """`not_stored` with a client_id fails that message only; Retry sends it again as it was."""
    page = open_page(f"/r/{room}/")
    sent: list[dict[str, Any]] = []

    def refuse_first_send(route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        def to_server(frame: str | bytes) -> None:
            event = json.loads(frame)
            if event["type"] == "message":
                sent.append(event)
                if len(sent) == 1:
                    route.send(
                        json.dumps(
                            {
                                "type": "error",
                                "code": "not_stored",
                                "message": "the message could not be stored",
                                "client_id": event["client_id"],
                            }
                        )
                    )
                    return
            server.send(frame)

        route.on_message(to_server)

    page.route_web_socket(re.compile(r"/ws/rooms/"), refuse_first_send)
    join(page, "Alice")
    send(page, "first try")
    failed = page.locator("#messages li.message.failed")
    expect(failed.locator(".text")).to_have_text(["first try"])
    expect(failed.locator(".delivery")).to_contain_text("Not sent.")
    expect(page.locator("#notice-text")).to_have_text(
        "Your message could not be saved. Please try again."
    )
    send(page, "second message")
    expect(page.locator(MESSAGES + ":not(.failed) .text")).to_have_text(["second message"])
    expect(failed.locator(".text")).to_have_text(["first try"])

    failed.get_by_role("button", name="Retry").click()
    expect(page.locator("#messages li.message.failed")).to_have_count(0)
    expect(page.locator(MESSAGES + " .text")).to_have_text(["second message", "first try"])
    expect(page.locator("#messages li.message.pending")).to_have_count(0)
    assert [event["text"] for event in sent] == ["first try", "second message", "first try"]
    assert sent[2]["client_id"] == sent[0]["client_id"] != sent[1]["client_id"]


def test_scrolling_to_the_top_loads_older_history_and_keeps_the_position(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """50 on join; each scroll to the top loads the page before it until the room's start."""
    texts = seed(chat_server, room, 120)
    page = open_page(f"/r/{room}/")
    join(page, "Reader")
    messages = page.locator(MESSAGES)
    marker = page.locator("#history-marker")
    expect(messages).to_have_count(50)
    assert message_texts(page) == texts[-50:]
    expect(marker).to_have_text("Scroll up for older messages")
    at_bottom = "l => l.scrollHeight - l.scrollTop - l.clientHeight < 2"
    assert page.locator("#messages").evaluate(at_bottom)

    for shown in (100, 120):
        seq = messages.first.get_attribute("data-seq")
        anchor = page.locator(f'#messages li[data-seq="{seq}"] .text')
        # Measure in the same task as the scroll, before the page can react to it. The text,
        # not the item: the item loses its header when an older message joins its group.
        top_before = page.locator("#messages").evaluate(SCROLL_TO_TOP, seq)
        expect(messages).to_have_count(shown)
        top_after = anchor.evaluate("item => item.getBoundingClientRect().top")
        assert abs(top_after - top_before) < 4, "the reader's place moved"
    expect(marker).to_have_text(f"Beginning of #{room}")
    assert message_texts(page) == texts
