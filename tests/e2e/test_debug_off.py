"""A server as `make run` starts it: DEBUG off, a generated key, plain HTTP, collected files."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.chatserver import ROOT, ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PageOpener, join, page_opener
from tests.e2e.test_http import get

HASHED_JS = re.compile(r"/static/chat/(?P<module>[a-z]+)\.[0-9a-f]{12}\.js")


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the server is to keep its key: missing at first."""
    return tmp_path_factory.mktemp("var") / "secret_key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> Iterator[ChatServer]:
    """`make run`'s settings (Makefile target run): collectstatic first, then runchat."""
    require_services()
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "",
        "SECRET_KEY_FILE": str(key_file),
        "CHAT_HTTPS": "0",
        "STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=120,
    )
    with run_chat_server(workers=2, env=env) as running:
        yield running


def test_page_and_its_hashed_scripts_and_styles_load(server: ChatServer) -> None:
    """WhiteNoise serves the collected, hashed files the page names."""
    status, _, body = get(server.http_url + "/")
    assert status == 200
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', body.decode())
    assert any(re.fullmatch(r"/static/chat/home\.[0-9a-f]{12}\.js", a) for a in assets), assets
    assert any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        status, headers, _ = get(server.http_url + asset)
        assert status == 200, asset
        assert "immutable" in headers.get("Cache-Control", ""), asset


def test_errors_show_no_debug_page(server: ChatServer) -> None:
    """An unknown URL gets the plain 404, not Django's page listing the URL patterns."""
    status, _, body = get(server.http_url + "/no/such/page")
    assert status == 404
    assert b"URLconf" not in body and b"DEBUG = True" not in body


def test_cookies_work_over_plain_http(server: ChatServer) -> None:
    """CHAT_HTTPS=0: the CSRF cookie a log-in form needs is not marked Secure."""
    _, headers, _ = get(server.http_url + "/accounts/login/")
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("csrftoken=")
    assert "secure" not in cookie.lower()


def test_the_key_is_generated_into_a_private_file(server: ChatServer, key_file: Path) -> None:
    """No SECRET_KEY given: the first start made one, readable by its owner only."""
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 50


@pytest.fixture
def open_page(server: ChatServer, chromium: Browser) -> Iterator[PageOpener]:
    """Pages of this module's server, in Chromium; closed after the test."""
    yield from page_opener(chromium, server.http_url)


def visit(open_page: PageOpener, path: str) -> tuple[Page, list[str], set[str]]:
    """A page at `path`, with the console errors and uncaught exceptions it reports and the
    names of the modules it fetches by hashed name, both filled in as they happen."""
    page = open_page("about:blank")
    problems: list[str] = []
    modules: set[str] = set()

    def fetched(url: str) -> None:
        if url.endswith(".js"):
            hashed = HASHED_JS.search(url)
            modules.add(hashed["module"] if hashed else f"unhashed {url}")

    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda response: fetched(response.url))
    page.goto(path)
    return page, problems, modules


def test_the_room_page_chats_on_its_hashed_modules(open_page: PageOpener, room: str) -> None:
    """In Chromium: every module of the room page is fetched by its hashed name (the imports
    were rewritten too), nothing errs, and a message goes out and comes back stored."""
    page, problems, modules = visit(open_page, f"/r/{room}/")
    join(page, "Alice")
    page.locator("#text").fill("hello from the hashed modules")
    page.locator("#text").press("Enter")
    # Shown once stored: whether its ack or its broadcast came first, it is one message.
    expect(page.locator("#messages li.message .text")).to_have_text(
        ["hello from the hashed modules"]
    )
    expect(page.locator("#messages li.message.pending")).to_have_count(0)
    expected = {path.stem for path in (ROOT / "static" / "chat").glob("*.js")} - {"home"}
    assert modules == expected
    assert problems == []


def test_the_start_page_lists_rooms_on_its_hashed_modules(open_page: PageOpener) -> None:
    """The start page's module, and the one it imports, load hashed and fill the room list."""
    page, problems, modules = visit(open_page, "/")
    expect(page.locator("#rooms-status")).not_to_have_text("Loading rooms…")
    assert modules == {"home", "format"}
    assert problems == []
