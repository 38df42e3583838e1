"""Accounts in Chromium: sign up, log out, log in, chat as that user; guests cannot take it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import SCREENSHOTS, PageOpener, join, wait_online

pytestmark = pytest.mark.services

MESSAGES = "#messages li.message:not(.pending)"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """One single-worker runchat for this module."""
    require_services()
    with run_chat_server(workers=1) as server:
        yield server


def send(page: Page, text: str) -> None:
    """Type a message and send it with Enter; wait until it shows as stored."""
    page.locator("#text").fill(text)
    page.locator("#text").press("Enter")
    expect(page.locator(MESSAGES).filter(has_text=text)).to_have_count(1)


def log_in(page: Page, room: str, username: str) -> None:
    """Log in through the form and land back in the room, connected."""
    page.goto(f"/accounts/login/?next=/r/{room}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"/r/{room}/")
    wait_online(page)


def test_sign_up_log_in_chat_and_a_guest_cannot_take_the_name(
    open_page: PageOpener, room: str
) -> None:
    """The account's messages carry no guest tag; a guest asking for its name is refused."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    carol = open_page(f"/accounts/signup/?next=/r/{room}/")
    expect(carol.get_by_role("heading", name="Create an account")).to_be_visible()
    carol.screenshot(path=SCREENSHOTS / "signup.png")
    carol.get_by_label("Username").fill("carol")
    carol.get_by_label("Password", exact=True).fill(PASSWORD)
    carol.get_by_label("Password confirmation").fill(PASSWORD)
    carol.get_by_role("button", name="Sign up").click()

    # Signed up and signed in: straight into the room under the account's name, no dialog.
    expect(carol).to_have_url(f"/r/{room}/")
    wait_online(carol)
    expect(carol.locator("#name-dialog")).to_be_hidden()
    expect(carol.locator("#me")).to_have_text("carol")
    expect(carol.locator("#change-name")).to_be_hidden()
    send(carol, "first, as a new account")

    carol.get_by_role("button", name="Log out").click()
    expect(carol.locator("#name-dialog")).to_be_visible()
    log_in(carol, room, "carol")
    send(carol, "back after logging in")
    expect(carol.locator(MESSAGES + " .author")).to_have_text(["carol", "carol"])
    expect(carol.locator(MESSAGES + " .guest-tag")).to_have_count(0)

    guest = open_page(f"/r/{room}/")
    guest.locator("#name").fill("Carol")
    guest.get_by_role("button", name="Join").click()
    expect(guest.locator("#name-error")).to_contain_text("registered user")
    expect(guest.locator("#name-dialog")).to_be_visible()
    expect(guest.locator("#status")).to_have_attribute("data-state", "offline")

    join(guest, "Dave")
    send(guest, "hi carol, I am a guest")
    expect(carol.locator(MESSAGES)).to_have_count(3)
    dave = carol.locator(MESSAGES).filter(has_text="I am a guest")
    expect(dave.locator(".guest-tag")).to_have_text("guest")
    expect(guest.locator(MESSAGES + " .guest-tag")).to_have_count(1)
    carol.screenshot(path=SCREENSHOTS / "account-chat.png")


def test_staff_reach_the_status_page_and_the_admin(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """A staff user sees Status and Admin in the header; /status shows the server's figures."""
    chat_server.create_user("root", PASSWORD, staff=True)
    page = open_page(f"/r/{room}/")
    expect(page.locator("#name-dialog")).to_be_visible()
    log_in(page, room, "root")
    send(page, "a message to count")
    page.get_by_role("link", name="Status").click()
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    stored = page.locator("#counts tr").filter(has_text="Messages stored").locator("td").nth(1)
    assert int(stored.inner_text()) >= 1
    expect(page.locator("#latencies")).to_contain_text("MongoDB: insert")
    page.screenshot(path=SCREENSHOTS / "status.png", full_page=True)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
