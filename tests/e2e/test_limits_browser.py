"""The page under limits: it waits out `rate_limited` and resends, and explains a full server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PageOpener, join

pytestmark = pytest.mark.services

MESSAGES = "#messages li.message:not(.pending)"
TYPED = ["one", "two", "three", "four", "five"]


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """One worker that takes one message a second and holds one socket."""
    require_services()
    env = {
        "CHAT_RATE_PER_S": "2",
        "CHAT_RATE_BURST": "1",
        "CHAT_MAX_CONNECTIONS_PER_WORKER": "1",
    }
    with run_chat_server(workers=1, env=env) as server:
        yield server


def test_rate_limited_sends_are_resent_after_the_wait_and_a_full_server_is_explained(
    open_page: PageOpener, room: str
) -> None:
    """Five quick sends all get stored in the order typed, none shows as failed; a second
    page hears 'full'."""
    page = open_page(f"/r/{room}/")
    join(page, "Quick")
    for text in TYPED:
        page.locator("#text").fill(text)
        page.locator("#text").press("Enter")
    expect(page.locator(MESSAGES + " .text")).to_have_text(TYPED)
    expect(page.locator("#messages li.failed")).to_have_count(0)
    expect(page.locator("#notice")).to_be_hidden()

    other = open_page(f"/r/{room}/")
    other.locator("#name").fill("Late")
    other.get_by_role("button", name="Join").click()
    expect(other.locator("#status")).to_contain_text("The server is full")
    expect(other.locator("#status")).to_have_attribute("data-state", "reconnecting")
    page.close()
    expect(other.locator("#status")).to_have_attribute("data-state", "online", timeout=15_000)
    expect(other.locator(MESSAGES + " .text")).to_have_text(TYPED)
