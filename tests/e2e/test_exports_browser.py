"""Exporting a room from the page, in Chromium against a real runchat with its job worker."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
import requests
from playwright.sync_api import Page, expect

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services
from tests.e2e.browser import PHONE, SCREENSHOTS, PageOpener, join

pytestmark = pytest.mark.services

WAIT_MS = 20_000
# Records every state the export bar passes through, however briefly it shows.
WATCH_STATES = """() => {
  window.exportStates = [];
  const bar = document.getElementById("export");
  new MutationObserver(() => {
    if (!bar.hidden) window.exportStates.push(bar.dataset.state);
  }).observe(bar, { attributes: true });
}"""


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """One runchat with one daphne and its job worker, on a queue of its own."""
    require_services()
    env = {
        "CHAT_JOB_WORKER_IN_RUNCHAT": "1",
        "CHAT_JOB_QUEUE": f"e2e:exports:{uuid.uuid4().hex[:10]}",
        "CHAT_JOB_POLL_MS": "200",
    }
    with run_chat_server(workers=1, env=env) as server:
        yield server


def seed(server: ChatServer, room: str, count: int) -> list[dict[str, Any]]:
    """Post messages over REST; return the room's history as exported messages look."""
    for i in range(count):
        body = {"text": f"message {i} 🙂", "author": "Seeder"}
        response = requests.post(
            f"{server.http_url}/api/rooms/{room}/messages", json=body, timeout=10
        )
        assert response.status_code == 201
    history = requests.get(
        f"{server.http_url}/api/rooms/{room}/messages", params={"limit": 200}, timeout=10
    ).json()["messages"]
    return [{k: v for k, v in m.items() if k != "type"} for m in history]


def pending_notices(owner: str) -> int:
    with pymongo.MongoClient(os.environ["MONGO_URL"], serverSelectionTimeoutMS=3000) as mongo:
        return mongo[os.environ.get("MONGO_DB", "chatsite")]["job_notices"].count_documents(
            {"owner": owner}
        )


def start_export(page: Page, fmt_label: str) -> None:
    page.evaluate(WATCH_STATES)
    page.get_by_text("Export", exact=True).click()
    page.get_by_role("button", name=fmt_label).click()


def test_export_button_shows_progress_then_a_download_of_the_history(
    open_page: PageOpener, chat_server: ChatServer, room: str
) -> None:
    """Click Export: the bar says it is under way, then offers the file, which is the room."""
    history = seed(chat_server, room, 12)
    name = f"Expo-{uuid.uuid4().hex[:6]}"
    page = open_page(f"/r/{room}/")
    join(page, name)
    start_export(page, "Transcript (JSON)")

    bar = page.locator("#export")
    expect(bar).to_be_visible()
    link = page.locator("#export-link")
    expect(link).to_be_visible(timeout=WAIT_MS)
    expect(link).to_have_text("Download JSON")
    expect(bar).to_have_attribute("data-state", "completed")
    expect(page.locator("#export-text")).to_have_text(f"Export of #{room} is ready.")
    states = page.evaluate("window.exportStates")
    assert states[0] == "pending" and states[-1] == "completed", states
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "export-ready-desktop.png"))

    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith(f"{room}-export-")
    assert download.suggested_filename.endswith(".json")
    assert json.loads(Path(download.path()).read_text(encoding="utf-8")) == {
        "room": room,
        "messages": history,
    }
    # The link came with the job event, which the page acknowledged with job.seen.
    deadline = time.monotonic() + 10
    while pending_notices(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pending_notices(name) == 0


def test_export_menu_and_bar_fit_a_phone(open_page: PageOpener, room: str) -> None:
    """On a phone the menu opens inside the screen and a CSV export ends in its link."""
    page = open_page(f"/r/{room}/", viewport=PHONE)
    join(page, "Pho")
    page.get_by_text("Export", exact=True).click()
    options = page.locator(".export-options")
    expect(options).to_be_visible()
    box = options.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "export-menu-phone.png"))
    page.get_by_role("button", name="Spreadsheet (CSV)").click()
    expect(page.locator("#export-link")).to_have_text("Download CSV", timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "export-ready-phone.png"))
    page.locator("#export-close").click()
    expect(page.locator("#export")).to_be_hidden()
