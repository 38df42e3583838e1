"""Chromium for end-to-end tests: one browser per module, one context per simulated person."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from tests.chatserver import ROOT

CHROMIUM = "/usr/bin/chromium"
# Where browser tests write their screenshots: an ignored folder, so a test run leaves the
# tracked tree alone; `make screenshots` points it at the README's var/screenshots on purpose.
SCREENSHOTS = Path(os.environ.get("CHAT_SCREENSHOTS_DIR") or ROOT / "var" / "test-screenshots")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 5_000
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; closed (with every page) when the module is done."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageOpener:
    """Opens pages in fresh contexts (own localStorage each) and closes them all afterwards."""

    browser: Browser
    base_url: str
    contexts: list[BrowserContext] = field(default_factory=list)

    def __call__(
        self, path: str, *, viewport: ViewportSize | None = None, bypass_csp: bool = False
    ) -> Page:
        """A page at `path`; `bypass_csp` lets a test inject scripts (such as axe-core)."""
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport=viewport or DESKTOP,
            locale="en-US",
            timezone_id="UTC",
            bypass_csp=bypass_csp,
        )
        context.set_default_timeout(WAIT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.goto(path)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


def page_opener(browser: Browser, base_url: str) -> Iterator[PageOpener]:
    """Yield a PageOpener for `base_url`; use from a fixture that knows the server."""
    opener = PageOpener(browser=browser, base_url=base_url)
    try:
        yield opener
    finally:
        opener.close()


def join(page: Page, name: str) -> None:
    """Answer the name dialog and wait until the page is connected."""
    dialog = page.locator("#name-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_role("button", name="Join").click()
    expect(dialog).to_be_hidden()
    wait_online(page)


def wait_online(page: Page) -> None:
    """Wait until the status line says the page is connected."""
    expect(page.locator("#status")).to_have_attribute("data-state", "online")


def message_texts(page: Page) -> list[str]:
    """The texts of the stored messages shown, top to bottom."""
    return page.locator("#messages li.message:not(.pending) .text").all_inner_texts()
