"""The API tokens page in Chromium: create a token (shown once), use it, revoke it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import SCREENSHOTS, PageOpener

pytestmark = pytest.mark.services

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    require_services()
    with run_chat_server(workers=1) as server:
        yield server


def post_as(server: ChatServer, room: str, token: str) -> int:
    """POST a message with the token; the status."""
    request = urllib.request.Request(
        f"{server.http_url}/api/rooms/{room}/messages",
        data=json.dumps({"text": "from the token", "author": "x"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_token_made_on_the_page_works_until_revoked(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    page = open_page("/accounts/signup/?next=/accounts/tokens/")
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.get_by_label("Username").fill("gwen")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url("/accounts/tokens/")
    expect(page.locator("#no-tokens")).to_be_visible()

    page.get_by_label("Name").fill("deploy bot")
    page.get_by_label("jobs").check()
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "tokens.png", full_page=True)
    expect(page.locator("#token-list tbody tr")).to_have_count(1)
    expect(page.locator("#token-list")).to_contain_text("chat jobs")
    assert token.startswith("cs_")
    assert post_as(chat_server, room, token) == 201

    page.reload()  # the secret is shown once only, and nothing is made again
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#token-list tbody tr")).to_have_count(1)
    expect(page.locator("#token-list")).not_to_contain_text("never")  # its use is recorded
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#no-tokens")).to_be_visible()
    assert post_as(chat_server, room, token) == 401
    assert violations == []
