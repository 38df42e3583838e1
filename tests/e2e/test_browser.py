"""The chat page in Chromium against a real runchat: names, sending, history, errors, looks."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect
from websockets.sync.client import ClientConnection, connect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PHONE, PageOpener, join, wait_online

pytestmark = pytest.mark.services

MESSAGES = "#messages li.message:not(.pending)"
WAIT_S = 5.0
SCROLL_TO_TOP = """(list, seq) => {
    list.scrollTop = 0;
    return list.querySelector(`li[data-seq="${seq}"] .text`).getBoundingClientRect().top;
}"""
# Every text the status line shows from now on, so a brief "Reconnecting in 1s…" is not missed.
RECORD_STATUS = """() => {
    const status = document.getElementById("status");
    window.statusLog = [];
    new MutationObserver(() => window.statusLog.push(status.textContent)).observe(
        status, { childList: true, characterData: true, subtree: true }
    );
}"""
SAW_RECONNECTING = "() => window.statusLog.some((text) => /^Reconnecting in \\d+s…$/.test(text))"
SEQS_SHOWN = "items => items.map((item) => Number(item.dataset.seq))"


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """One runchat with two workers for the whole module."""
    require_services()
    with run_chat_server(workers=2) as server:
        yield server


def send(page: Page, text: str, *, click: bool = False) -> None:
    """Type a message and send it with Enter, or with the Send button when `click`."""
    page.locator("#text").fill(text)
    if click:
        page.get_by_role("button", name="Send").click()
    else:
        page.locator("#text").press("Enter")
    expect(page.locator("#text")).to_have_value("")


def seed(server: ChatServer, room: str, count: int) -> list[str]:
    """Post `count` numbered messages to `room` over a WebSocket; return their texts."""
    texts = [f"seed message {n:03d}" for n in range(1, count + 1)]
    # Playwright's sync API keeps an event loop running here, so a blocking client it is.
    with connect(server.ws_url(room, "Seeder"), open_timeout=WAIT_S) as ws:
        for number, text in enumerate(texts):
            ws.send(json.dumps({"type": "message", "text": text, "client_id": f"seed-{number}"}))
            while json.loads(ws.recv(timeout=WAIT_S))["type"] != "ack":
                pass
    return texts


def post(ws: ClientConnection, text: str, client_id: str) -> dict[str, Any]:
    """Send one message on an open client and return its ack (broadcasts are skipped)."""
    ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
    deadline = time.monotonic() + WAIT_S
    while (remaining := deadline - time.monotonic()) > 0:
        event = json.loads(ws.recv(timeout=remaining))
        if event["type"] == "ack" and event["client_id"] == client_id:
            return event
        assert event["type"] != "error", event
    raise AssertionError(f"no ack for {client_id} within {WAIT_S}s")


@contextmanager
def connect_avoiding(
    server: ChatServer, room: str, name: str, worker: str
) -> Iterator[ClientConnection]:
    """A client served by any worker but `worker` (the shared socket picks one; bounded)."""
    for _ in range(40):
        with connect(server.ws_url(room, name), open_timeout=WAIT_S) as ws:
            if json.loads(ws.recv(timeout=WAIT_S))["worker"] != worker:
                assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "history"
                yield ws
                return
        time.sleep(0.05)  # let the other worker reach accept()
    raise AssertionError(f"every connection landed on {worker}")


def served_by(page: Page) -> str:
    """The worker id (`w1-<pid>`) the page's status line says it is connected through."""
    title = page.locator("#status").get_attribute("title") or ""
    found = re.search(r"through (w\d+-\d+)$", title)
    assert found, f"no worker in the status tooltip {title!r}"
    return found.group(1)


def wait_for(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Let the page run until `condition()` holds (Python-side state); bounded by WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


def intercept_socket(page: Page) -> list[WebSocketRoute]:
    """Pass the page's WebSockets through Playwright; the routes let a test inject or close."""
    routes: list[WebSocketRoute] = []

    def handle(route: WebSocketRoute) -> None:
        route.connect_to_server()
        routes.append(route)

    page.route_web_socket(re.compile(r"/ws/rooms/"), handle)
    return routes


def test_two_people_see_both_messages_in_order_and_a_late_joiner_gets_history(
    open_page: PageOpener, room: str
) -> None:
    """Enter and the Send button both post; everyone sees the same order; history replays it."""
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    bob = open_page(f"/r/{room}/")
    join(bob, "Bob")

    send(alice, "Hello from Alice")
    expect(bob.locator(MESSAGES + " .text")).to_have_text(["Hello from Alice"])
    send(bob, "Hi Alice, Bob here", click=True)

    both = ["Hello from Alice", "Hi Alice, Bob here"]
    for page in (alice, bob):
        expect(page.locator(MESSAGES + " .text")).to_have_text(both)
        expect(page.locator(MESSAGES + " .author")).to_have_text(["Alice", "Bob"])

    carol = open_page(f"/r/{room}/")
    join(carol, "Carol")
    expect(carol.locator(MESSAGES + " .text")).to_have_text(both)
    expect(carol.locator("#history-marker")).to_have_text(f"Beginning of #{room}")


def test_typing_shows_to_the_other_page_and_goes_when_the_message_arrives(
    open_page: PageOpener, room: str
) -> None:
    """Bob sees "Alice is typing…" while she types; it disappears with her message."""
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    bob = open_page(f"/r/{room}/")
    join(bob, "Bob")
    alice.locator("#text").press_sequentially("Almost done", delay=20)
    expect(bob.locator("#typing")).to_have_text("Alice is typing…")
    expect(alice.locator("#typing")).to_have_text("")  # not shown to the typist
    alice.locator("#text").press("Enter")
    expect(bob.locator(MESSAGES + " .text")).to_have_text(["Almost done"])
    expect(bob.locator("#typing")).to_have_text("")


def test_own_messages_are_marked(open_page: PageOpener, room: str) -> None:
    """Each person's own messages carry the `own` mark, the others' do not."""
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    bob = open_page(f"/r/{room}/")
    join(bob, "Bob")
    send(alice, "mine")
    send(bob, "yours")
    expect(alice.locator(MESSAGES)).to_have_count(2)
    expect(bob.locator(MESSAGES)).to_have_count(2)
    for page, own, other in ((alice, "mine", "yours"), (bob, "yours", "mine")):
        expect(page.locator(f"{MESSAGES}.own .text")).to_have_text([own])
        expect(page.locator(f"{MESSAGES}:not(.own) .text")).to_have_text([other])


def test_markup_in_a_message_is_shown_as_text(open_page: PageOpener, room: str) -> None:
    """`<b>x</b>` arrives as those literal characters, not as a bold element."""
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    bob = open_page(f"/r/{room}/")
    join(bob, "<i>Bob</i>")
    send(bob, "<b>x</b>")
    for page in (alice, bob):
        expect(page.locator(MESSAGES + " .text")).to_have_text(["<b>x</b>"])
        expect(page.locator(MESSAGES + " .author")).to_have_text(["<i>Bob</i>"])
        expect(page.locator("#messages b, #messages i")).to_have_count(0)


def test_long_text_wraps_inside_the_message_list(open_page: PageOpener, room: str) -> None:
    """A long sentence and an unbroken 300-character word wrap; nothing scrolls sideways."""
    page = open_page(f"/r/{room}/", viewport=PHONE)
    join(page, "Alice")
    sentence = "This sentence is long enough to need several lines on a phone. " * 6
    word = "x" * 300
    send(page, sentence.strip())
    send(page, word)
    expect(page.locator(MESSAGES)).to_have_count(2)
    fits = page.locator("#messages").evaluate(
        "list => list.scrollWidth <= list.clientWidth && [...list.querySelectorAll('.message')]"
        ".every(m => m.getBoundingClientRect().right <= list.getBoundingClientRect().right)"
    )
    assert fits
    for text in page.locator(MESSAGES + " .text").all():
        box = text.bounding_box()
        assert box is not None
        assert box["height"] > 3 * 16  # several lines, not one clipped line
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_enter_sends_and_shift_enter_starts_a_new_line(open_page: PageOpener, room: str) -> None:
    """Shift+Enter adds a line to the message; Enter sends it, line breaks kept."""
    page = open_page(f"/r/{room}/")
    join(page, "Alice")
    field = page.locator("#text")
    field.fill("first line")
    field.press("Shift+Enter")
    field.press_sequentially("second line")
    expect(field).to_have_value("first line\nsecond line")
    expect(page.locator("#messages li.message")).to_have_count(0)
    field.press("Enter")
    expect(field).to_have_value("")
    expect(page.locator(MESSAGES + " .text")).to_have_text(["first line\nsecond line"])


def test_name_is_remembered_and_can_be_changed(open_page: PageOpener, room: str) -> None:
    """The name survives a reload; "change name" reconnects under the new one."""
    page = open_page(f"/r/{room}/")
    join(page, "  Alice  ")
    expect(page.locator("#me")).to_have_text("Alice")
    assert page.evaluate("localStorage.getItem('chatsite.name')") == "Alice"

    page.reload()
    expect(page.locator("#name-dialog")).to_be_hidden()
    wait_online(page)
    expect(page.locator("#me")).to_have_text("Alice")

    page.get_by_role("button", name="Change name").click()
    expect(page.locator("#name")).to_have_value("Alice")
    join(page, "Alicia")
    expect(page.locator("#me")).to_have_text("Alicia")
    send(page, "new name, who dis")
    expect(page.locator(MESSAGES + " .author")).to_have_text(["Alicia"])
    assert page.evaluate("localStorage.getItem('chatsite.name')") == "Alicia"


def test_name_dialog_refuses_empty_and_too_long_names(open_page: PageOpener, room: str) -> None:
    """Blank names are refused; the field takes at most 32 characters."""
    page = open_page(f"/r/{room}/")
    dialog = page.locator("#name-dialog")
    page.locator("#name").fill("   ")
    page.get_by_role("button", name="Join").click()
    expect(dialog).to_be_visible()
    expect(page.locator("#name-error")).to_have_text("Enter a name.")
    page.locator("#name").fill("n" * 40)
    expect(page.locator("#name")).to_have_value("n" * 32)


def test_a_name_the_server_refuses_reopens_the_dialog_with_its_reason(
    open_page: PageOpener, room: str
) -> None:
    """invalid_name then close 4400: the dialog comes back and says why; nothing reconnects."""
    page = open_page(f"/r/{room}/")
    page.locator("#name").fill("zero\u200bwidth")
    page.get_by_role("button", name="Join").click()
    expect(page.locator("#name-error")).to_contain_text("control characters")
    expect(page.locator("#name-dialog")).to_be_visible()
    expect(page.locator("#status")).to_have_attribute("data-state", "offline")
    expect(page.locator("#send")).to_be_disabled()
    assert page.evaluate("localStorage.getItem('chatsite.name')") is None

    join(page, "Zero")
    send(page, "fixed it")
    expect(page.locator(MESSAGES + " .author")).to_have_text(["Zero"])


def test_send_is_disabled_while_not_connected(open_page: PageOpener, room: str) -> None:
    """Send is off before joining and while reconnecting, on again once connected."""
    page = open_page(f"/r/{room}/")
    routes = intercept_socket(page)
    expect(page.locator("#send")).to_be_disabled()
    join(page, "Alice")
    expect(page.locator("#send")).to_be_enabled()

    routes[-1].close(code=1012, reason="restarting")
    expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#send")).to_be_disabled()
    wait_online(page)
    expect(page.locator("#send")).to_be_enabled()
    send(page, "back again")
    expect(page.locator(MESSAGES + " .text")).to_have_text(["back again"])


def test_server_errors_are_shown_readably(open_page: PageOpener, room: str) -> None:
    """An `error` event shows as a sentence (known codes in plain words) until dismissed."""
    page = open_page(f"/r/{room}/")
    routes = intercept_socket(page)
    join(page, "Alice")
    notice = page.locator("#notice")
    expect(notice).to_be_hidden()

    routes[-1].send(json.dumps({"type": "error", "code": "not_stored", "message": "not stored"}))
    expect(notice).to_be_visible()
    expect(page.locator("#notice-text")).to_have_text(
        "Your message could not be saved. Please try again."
    )
    routes[-1].send(json.dumps({"type": "error", "code": "new_code", "message": "room is busy"}))
    expect(page.locator("#notice-text")).to_have_text("Room is busy.")
    page.get_by_role("button", name="Dismiss").click()
    expect(notice).to_be_hidden()


def test_text_over_the_limit_is_refused_in_the_page(open_page: PageOpener, room: str) -> None:
    """More than 4000 characters never leave the page; the notice says why."""
    page = open_page(f"/r/{room}/")
    join(page, "Alice")
    page.locator("#text").evaluate("(input) => { input.value = 'y'.repeat(4001); }")
    page.locator("#text").press("Enter")
    expect(page.locator("#notice")).to_contain_text("4000 characters")
    expect(page.locator("#messages li.message")).to_have_count(0)


def test_an_empty_room_says_so_until_the_first_message(open_page: PageOpener, room: str) -> None:
    """A new room shows its beginning and an empty-state line; the first message replaces it."""
    page = open_page(f"/r/{room}/")
    join(page, "Alice")
    expect(page.locator("#history-marker")).to_have_text(f"Beginning of #{room}")
    expect(page.locator("#empty")).to_be_visible()
    send(page, "first!")
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.locator(MESSAGES + " .text")).to_have_text(["first!"])
