"""Every kind of page works under the site's Content-Security-Policy: Chromium reports no
violation (a blocked inline script or style would be one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PageOpener, join

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    require_services()
    with run_chat_server(workers=1) as server:
        yield server


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/", "main"),
        ("/r/{room}/", "#name-dialog"),
        ("/accounts/login/", "form"),
        ("/admin/login/", "#login-form"),
        ("/api/docs", ".swagger-ui .info"),
    ],
)
def test_no_csp_violation(open_page: PageOpener, room: str, path: str, ready: str) -> None:
    page = open_page("about:blank")
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.goto(path.format(room=room))
    expect(page.locator(ready).first).to_be_visible()
    if ready == "#name-dialog":
        join(page, "csp-check")
    page.wait_for_load_state("networkidle")
    assert violations == []


@pytest.mark.parametrize(
    ("path", "styled"),
    [("/admin/chat/job/", ".queue-figures"), ("/admin/chat/message/", "#changelist")],
)
def test_the_admins_store_pages_have_no_csp_violation(
    open_page: PageOpener, chat_server: ChatServer, path: str, styled: str
) -> None:
    """Their own styles come from a file: an inline <style> would be blocked (and reported)."""
    chat_server.create_user(f"admin-{path.split('/')[3]}", PASSWORD, staff=True)
    page = open_page(f"/admin/login/?next={path}")
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.get_by_label("Username").fill(f"admin-{path.split('/')[3]}")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(styled).first).to_be_visible()
    if styled == ".queue-figures":
        assert page.locator(styled).evaluate("e => getComputedStyle(e).display") == "flex"
    page.wait_for_load_state("networkidle")
    assert violations == []
