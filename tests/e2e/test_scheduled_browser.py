"""Sending later from the page, in Chromium against a real runchat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PHONE, SCREENSHOTS, PageOpener, join, message_texts

pytestmark = pytest.mark.services

MESSAGES = "#messages li.message:not(.pending)"


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """One runchat with two workers (each runs a scheduler loop) for the whole module."""
    require_services()
    with run_chat_server(workers=2, env={"CHAT_SCHEDULER_MAX_SLEEP_MS": "1000"}) as server:
        yield server


def local_value(when: datetime) -> str:
    """What a datetime-local input holds for `when` (the pages run in UTC)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def send_later(page: Page, text: str, when: datetime) -> None:
    """Type `text`, open "Send later", pick `when` and schedule it."""
    page.locator("#text").fill(text)
    page.get_by_role("button", name="Schedule for later").click()
    dialog = page.locator("#schedule-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#schedule-preview")).to_have_text(text)
    dialog.get_by_label("Deliver at").fill(local_value(when))
    dialog.get_by_role("button", name="Schedule", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#text")).to_have_value("")


def test_a_message_sent_later_is_listed_then_appears_for_everyone_at_its_time(
    open_page: PageOpener, room: str
) -> None:
    """Schedule from the page: it shows as pending, then reaches both pages when due."""
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    bob = open_page(f"/r/{room}/")
    join(bob, "Bob")
    # The picker has whole seconds: that is the time the server is given.
    due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    send_later(alice, "Happy birthday, Bob!", due)

    pending = alice.locator("#scheduled")
    expect(pending).to_be_visible()
    expect(alice.locator("#scheduled-summary")).to_have_text("Scheduled (1)")
    expect(pending.locator(".scheduled-text")).to_have_text(["Happy birthday, Bob!"])
    assert message_texts(alice) == [] and message_texts(bob) == []

    for page in (alice, bob):
        expect(page.locator(MESSAGES)).to_have_count(1, timeout=15_000)
        assert message_texts(page) == ["Happy birthday, Bob!"]
    assert datetime.now(UTC) >= due
    expect(pending).to_be_hidden(timeout=10_000)
    expect(alice.locator(MESSAGES).first).to_have_class("message own")


def test_a_scheduled_message_can_be_cancelled_from_the_list(
    open_page: PageOpener, room: str
) -> None:
    """Cancel removes it from the list; the server no longer lists it after a reload."""
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    send_later(alice, "Never mind", datetime.now(UTC) + timedelta(hours=1))
    send_later(alice, "Stays", datetime.now(UTC) + timedelta(hours=2))
    expect(alice.locator("#scheduled-summary")).to_have_text("Scheduled (2)")
    row = alice.locator(".scheduled-item", has_text="Never mind")
    row.get_by_role("button").click()
    expect(alice.locator("#scheduled-summary")).to_have_text("Scheduled (1)")
    expect(alice.locator(".scheduled-text")).to_have_text(["Stays"])
    alice.reload()
    expect(alice.locator("#scheduled-summary")).to_have_text("Scheduled (1)")


def test_send_later_needs_text_and_a_time_within_a_year(open_page: PageOpener, room: str) -> None:
    """Without text the page says so; without a time, or too far ahead, the dialog says so."""
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    alice.get_by_role("button", name="Schedule for later").click()
    expect(alice.locator("#notice-text")).to_have_text(
        "Type the message first, then pick when to send it."
    )
    expect(alice.locator("#schedule-dialog")).to_be_hidden()
    alice.locator("#text").fill("Later")
    alice.get_by_role("button", name="Schedule for later").click()
    alice.get_by_label("Deliver at").fill("")
    alice.get_by_role("button", name="Schedule", exact=True).click()
    expect(alice.locator("#schedule-error")).to_have_text("Pick a date and time.")
    alice.get_by_label("Deliver at").fill(local_value(datetime.now(UTC) + timedelta(days=400)))
    alice.get_by_role("button", name="Schedule", exact=True).click()
    expect(alice.locator("#schedule-error")).to_have_text(
        "Messages can be scheduled at most a year ahead."
    )
    alice.get_by_role("button", name="Cancel", exact=True).click()
    expect(alice.locator("#schedule-dialog")).to_be_hidden()
    expect(alice.locator("#text")).to_have_value("Later")


def test_screenshots_of_send_later(open_page: PageOpener, room: str) -> None:
    """Write scheduled.png (dialog) and scheduled-list.png (pending list)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice = open_page(f"/r/{room}/")
    join(alice, "Alice")
    alice.locator("#text").fill("Reminder: retro at 3, bring one thing that went well.")
    alice.locator("#text").press("Enter")
    expect(alice.locator(MESSAGES)).to_have_count(1)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    send_later(alice, "Good morning! Stand-up in 15 minutes.", tomorrow)
    send_later(alice, "Retro notes are in the wiki.", tomorrow + timedelta(hours=6))
    expect(alice.locator("#scheduled-summary")).to_have_text("Scheduled (2)")
    alice.locator("#text").fill("Don't forget the demo")
    alice.get_by_role("button", name="Schedule for later").click()
    expect(alice.locator("#schedule-dialog")).to_be_visible()
    alice.screenshot(path=SCREENSHOTS / "scheduled.png")
    alice.get_by_role("button", name="Cancel", exact=True).click()
    alice.screenshot(path=SCREENSHOTS / "scheduled-list.png")
    # The same browser on a phone's screen: a guest's scheduled messages are their
    # browser's (another browser under the same name sees none of them).
    alice.set_viewport_size(PHONE)
    alice.reload()
    expect(alice.locator("#scheduled-summary")).to_have_text("Scheduled (2)")
    alice.locator("#scheduled summary").click()
    alice.screenshot(path=SCREENSHOTS / "scheduled-mobile.png")
