"""Fixtures for end-to-end tests (real runchat processes, WebSocket clients, Chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.chatserver import ChatServer
from tests.e2e.browser import PageOpener, chromium, page_opener

__all__ = ["chromium", "open_page"]


@pytest.fixture
def open_page(chat_server: ChatServer, chromium: Browser) -> Iterator[PageOpener]:
    """Pages of the module's `chat_server`, each in a browser context of its own (own
    cookies, own storage, a different person); all are closed after the test.

    `chat_server` comes first: a module's server may seed with asyncio.run(), which it can
    only do before Playwright's loop exists in this thread."""
    yield from page_opener(chromium, chat_server.http_url)
