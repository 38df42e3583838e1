"""Every kind of page works under the site's Content-Security-Policy: Chromium reports no
violation (a blocked inline script or style would be one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PageOpener, join

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
