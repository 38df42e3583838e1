"""Rooms in Chromium: the start page, who is online, search and jump, links, looks, axe-core."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pymongo
import pytest
from django.test import override_settings
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from chat.infra.clients import close_all
from chat.messages import sequencing, store
from chat.messages.documents import message_id
from chat.protocol import MessageOut
from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.a11y import axe_violations, serious
from tests.e2e.browser import PHONE, SCREENSHOTS, PageOpener, join

pytestmark = pytest.mark.services

MESSAGES = "#messages li.message:not(.pending)"
ROOM = "design-review"
ARCHIVE = "incidents"
ARCHIVE_SIZE = 300
NEEDLE_AT = 120  # the seq of the one archive message about DNS
YESTERDAY = [
    ("Carol", "Kickoff notes are up: https://example.com/notes/kickoff (draft)."),
    ("Dave", "Thanks! I'll go through them tonight."),
]


def archive_text(seq: int) -> str:
    """The archive's text for a seq: one needle, the rest numbered status lines."""
    if seq == NEEDLE_AT:
        return "Postmortem: the root cause was a stale DNS cache on the edge boxes."
    return f"status update {seq:03d}: all green"


async def _seed() -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    first = await sequencing.reserve_seqs(ROOM, len(YESTERDAY))
    await store.insert_many(
        [
            MessageOut(
                id=message_id(ROOM, first + i),
                seq=first + i,
                room=ROOM,
                author=author,
                text=text,
                ts=yesterday.replace(microsecond=0) + timedelta(minutes=i),
            )
            for i, (author, text) in enumerate(YESTERDAY)
        ]
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    first = await sequencing.reserve_seqs(ARCHIVE, ARCHIVE_SIZE)
    assert first == 1
    await store.insert_many(
        [
            MessageOut(
                id=message_id(ARCHIVE, seq),
                seq=seq,
                room=ARCHIVE,
                author="ops",
                text=archive_text(seq),
                ts=start + timedelta(seconds=20 * seq),
            )
            for seq in range(1, ARCHIVE_SIZE + 1)
        ]
    )
    await close_all()


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """Two workers on a database of the module's own (its start page lists only its rooms)."""
    require_services()
    database = f"rooms_{uuid.uuid4().hex[:12]}"
    try:
        with override_settings(MONGO_DB=database):
            asyncio.run(_seed())  # before Playwright's loop exists in this thread
        with run_chat_server(workers=2, env={"MONGO_DB": database}) as server:
            yield server
    finally:
        with pymongo.MongoClient(os.environ["MONGO_URL"], serverSelectionTimeoutMS=3000) as mongo:
            mongo.drop_database(database)


def send(page: Page, text: str) -> None:
    """Type a message and send it with Enter."""
    page.locator("#text").fill(text)
    page.locator("#text").press("Enter")
    expect(page.locator("#text")).to_have_value("")


def online(page: Page) -> list[str]:
    """The names the page lists as online."""
    return page.locator("#presence-list .person-name").all_inner_texts()


def test_screenshots_of_a_room_with_history_presence_and_typing(
    open_page: PageOpener, chat_server: ChatServer
) -> None:
    """Write room.png (1280x800) and room-mobile.png (390x844) to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice = open_page(f"/r/{ROOM}/")
    join(alice, "Alice")
    bob = open_page(f"/r/{ROOM}/", viewport=PHONE)
    join(bob, "Bob")
    with connect(
        f"{alice.url.replace('http', 'ws', 1).split('/r/')[0]}/ws/rooms/{ROOM}/?name=Erin"
    ):
        expect(alice.locator("#presence-title")).to_have_text("3 online")
        assert online(alice) == ["Alice (you)", "Bob", "Erin"]
        assert online(bob) == ["Bob (you)", "Alice", "Erin"]
        lines = [
            (alice, "Morning! I read the kickoff notes. Mockups: https://example.com/mockups/v2"),
            (bob, "Nice. The room list now shows who is online in each room."),
            (alice, "And search jumps straight to the message, with the ones around it."),
            (bob, "supercalifragilisticexpialidocious-and-other-very-long-words-wrap-fine"),
            (alice, "Ship it?"),
        ]
        for number, (page, text) in enumerate(lines, start=len(YESTERDAY) + 1):
            send(page, text)
            expect(alice.locator(MESSAGES)).to_have_count(number)
            expect(bob.locator(MESSAGES)).to_have_count(number)
        expect(alice.locator("#messages li.day")).to_have_text(["Yesterday", "Today"])
        link = alice.locator("#messages .text a").first
        expect(link).to_have_attribute("href", "https://example.com/notes/kickoff")
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        bob.locator("#text").press_sequentially("Yes, after lunch", delay=20)
        expect(alice.locator("#typing")).to_have_text("Bob is typing…")
        alice.screenshot(path=SCREENSHOTS / "room.png")
        alice.locator("#text").press_sequentially("Great", delay=20)
        expect(bob.locator("#typing")).to_have_text("Alice is typing…")
        bob.screenshot(path=SCREENSHOTS / "room-mobile.png")
    expect(alice.locator("#presence-title")).to_have_text("2 online")
    assert online(alice) == ["Alice (you)", "Bob"]


def test_the_start_page_lists_rooms_live_and_opens_one_by_name(open_page: PageOpener) -> None:
    """Rooms with their figures, updated while open; a typed name opens its shareable URL."""
    start = open_page("/")
    rooms = start.locator("#room-list .room-link")
    expect(rooms.filter(has_text=ARCHIVE)).to_contain_text(f"{ARCHIVE_SIZE} messages")
    reader = open_page(f"/r/{ARCHIVE}/")
    join(reader, "Reader")
    expect(rooms.filter(has_text=ARCHIVE)).to_contain_text("1 online", timeout=12_000)
    expect(rooms.first).to_contain_text(ARCHIVE)  # rooms with people in them come first
    start.screenshot(path=SCREENSHOTS / "rooms.png")
    phone = open_page("/", viewport=PHONE)
    expect(phone.locator("#room-list .room-link").first).to_contain_text("1 online")
    phone.screenshot(path=SCREENSHOTS / "rooms-mobile.png")

    field = start.get_by_label("Join or create a room")
    field.fill("not a room!")
    field.press("Enter")
    expect(start.locator("#room-error")).to_contain_text("letters, digits")
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("Team-Sync")
    field.press("Enter")
    expect(start).to_have_url(re.compile(r"/r/team-sync/$"))
    join(start, "Opener")
    expect(start.locator("#room-name")).to_have_text("team-sync")


def test_search_jumps_to_a_result_in_context_by_keyboard(open_page: PageOpener) -> None:
    """'/' opens search, Enter searches, Tab and Enter open a result; Escape closes."""
    page = open_page(f"/r/{ARCHIVE}/")
    join(page, "Searcher")
    expect(page.locator(MESSAGES)).to_have_count(50)
    page.locator("body").press("Escape")
    page.locator("#text").blur()
    page.keyboard.press("/")
    dialog = page.locator("#search-dialog")
    expect(dialog).to_be_visible()
    page.keyboard.type("dns CACHE")
    page.keyboard.press("Enter")
    hits = dialog.locator(".hit-button")
    expect(hits).to_have_count(1)
    expect(hits.first.locator("mark")).to_have_text("DNS cache")
    expect(page.locator("#search-status")).to_have_text("1 message found, newest first.")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(hits.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    hit = page.locator(f'#messages li.message.hit[data-seq="{NEEDLE_AT}"]')
    expect(hit).to_be_in_viewport()
    seqs = page.locator(MESSAGES).evaluate_all("items => items.map((i) => Number(i.dataset.seq))")
    assert seqs == list(range(NEEDLE_AT - 25, NEEDLE_AT + 25))
    jump = page.locator("#jump")
    expect(jump).to_have_text("Jump to latest ↓")
    jump.click()
    expect(page.locator(MESSAGES).last).to_have_attribute("data-seq", str(ARCHIVE_SIZE))
    expect(jump).to_be_hidden()

    page.keyboard.press("Escape")
    page.locator("#search-open").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_only_http_links_become_links_and_markup_stays_text(open_page: PageOpener) -> None:
    """javascript: and markup are shown as typed; the https URL is a safe link."""
    room = f"t-{uuid.uuid4().hex[:8]}"
    page = open_page(f"/r/{room}/")
    join(page, "Linker")
    send(page, 'javascript:alert(1) <a href="x">x</a> https://example.org/a_(b).')
    text = page.locator(f"{MESSAGES} .text")
    expect(text).to_have_text('javascript:alert(1) <a href="x">x</a> https://example.org/a_(b).')
    links = text.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.org/a_(b)")
    expect(links).to_have_attribute("target", "_blank")


def test_the_title_counts_unread_messages_while_the_tab_is_hidden(open_page: PageOpener) -> None:
    """A hidden tab's title says how many arrived; it resets when the tab is shown again."""
    room = f"t-{uuid.uuid4().hex[:8]}"
    reader = open_page(f"/r/{room}/")
    join(reader, "Reader")
    writer = open_page(f"/r/{room}/")
    join(writer, "Writer")
    reader.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    send(writer, "one")
    send(writer, "two")
    expect(reader).to_have_title(f"(2) #{room} · chatsite")
    reader.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    expect(reader).to_have_title(f"#{room} · chatsite")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_axe_finds_no_serious_violations(open_page: PageOpener, viewport: str) -> None:
    """The start page and a room with history and people in it pass axe-core (serious+)."""
    size = PHONE if viewport == "phone" else None
    start = open_page("/", viewport=size, bypass_csp=True)
    expect(start.locator("#room-list .room-link").first).to_be_visible()
    assert serious(axe_violations(start)) == []
    room = open_page(f"/r/{ROOM}/", viewport=size, bypass_csp=True)
    join(room, f"Checker-{viewport}")
    expect(room.locator(MESSAGES).first).to_be_visible()
    assert serious(axe_violations(room)) == []
    room.locator("#search-open").click()
    room.keyboard.type("kickoff")
    room.keyboard.press("Enter")
    expect(room.locator(".hit-button").first).to_be_visible()
    assert serious(axe_violations(room)) == [], json.dumps(axe_violations(room))[:2000]
