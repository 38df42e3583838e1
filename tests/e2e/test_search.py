"""Search over a seeded room, and jumping to a result, against a real two-worker runchat."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pymongo
import pytest
import pytest_asyncio
from django.test import override_settings

from chat.infra.clients import close_all, mongo_db
from chat.messages import seeding, store
from tests.chatserver import ChatServer, Client, run_chat_server
from tests.conftest import require_services

pytestmark = pytest.mark.services

SEEDED = 10_000
# Regex metacharacters and mixed case: each must match only itself, in any case.
NEEDLES = ["Price: $5.00 (net)?", "price: $5X00 (net)?", "a+b=[c] \\d*", "PRICE: $5.00 (NET)?!"]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A MongoDB database of the module's own, dropped afterwards.

    Ten thousand messages in the shared database would slow every later test that scans it
    (FerretDB's SQLite backend scans a collection for most queries).
    """
    require_services()
    name = f"search_{uuid.uuid4().hex[:12]}"
    try:
        with override_settings(MONGO_DB=name):
            yield name
    finally:
        with pymongo.MongoClient(os.environ["MONGO_URL"], serverSelectionTimeoutMS=3000) as mongo:
            mongo.drop_database(name)


@pytest.fixture(scope="module")
def server(database: str) -> Iterator[ChatServer]:
    """One two-worker server on the module's database."""
    with run_chat_server(workers=2, env={"MONGO_DB": database}) as running:
        yield running


@pytest.fixture(scope="module")
def haystack() -> str:
    """A room name for the module's seeded messages."""
    return f"t-search-{int(time.time() * 1000)}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(server: ChatServer, haystack: str) -> AsyncIterator[list[dict[str, Any]]]:
    """10,000 bulk-seeded messages with the needles posted in the middle; every message."""
    started = time.monotonic()
    await seeding.seed_room(room=haystack, count=SEEDED // 2)
    poster = await Client.join(server, haystack, "poster")
    for number, text in enumerate(NEEDLES):
        await poster.send({"type": "message", "text": text, "client_id": f"needle-{number}"})
        await poster.expect("ack")
    await poster.close()
    await seeding.seed_room(room=haystack, count=SEEDED // 2)
    cursor = mongo_db()[store.MESSAGES].find({"room": haystack}, {"_id": 0, "seq": 1, "text": 1})
    stored = await cursor.to_list(length=None)
    await close_all()
    assert len(stored) == SEEDED + len(NEEDLES)
    assert time.monotonic() - started < 60, "seeding should take seconds"
    yield stored


def expected(stored: list[dict[str, Any]], q: str) -> list[int]:
    """The seqs a case-insensitive substring search must return, newest first."""
    return sorted((m["seq"] for m in stored if q.casefold() in m["text"].casefold()), reverse=True)


def get_json(server: ChatServer, path: str, **query: Any) -> tuple[int, Any]:
    url = f"{server.http_url}{path}?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def search_all(server: ChatServer, room: str, q: str, **query: Any) -> list[dict[str, Any]]:
    """Every page of a REST search, following `next_before_seq` until `has_more` is false."""
    pages: list[dict[str, Any]] = []
    while not pages or pages[-1]["has_more"]:
        cursor = {"before_seq": pages[-1]["next_before_seq"]} if pages else {}
        status, page = get_json(server, f"/api/rooms/{room}/search", q=q, **query, **cursor)
        assert status == 200, page
        pages.append(page)
        assert len(pages) < 20, "a search of 10,000 messages takes a few pages"
    return pages


@pytest.mark.asyncio(loop_scope="module")
async def test_search_finds_exactly_the_matches_newest_first_in_pages(
    server: ChatServer, haystack: str, seeded: list[dict[str, Any]]
) -> None:
    """Over the socket: pages of at most 50 newest first, each match once, none missing."""
    q = "DEPLOY went"
    want = expected(seeded, q)
    assert len(want) > 100  # the seeding vocabulary makes this common
    client = await Client.join(server, haystack, "searcher")
    try:
        got: list[int] = []
        before: int | None = None
        started = time.monotonic()
        asked = 0
        while len(got) < 150:
            request: dict[str, Any] = {"type": "search", "q": q, "limit": 50}
            if before is not None:
                request["before_seq"] = before
            await client.send(request)
            page = await client.expect("search", timeout=30)
            asked += 1
            assert page["q"] == q and page["before_seq"] == before
            assert page["has_more"] is True and len(page["messages"]) <= 50
            assert all(q.casefold() in m["text"].casefold() for m in page["messages"])
            got += [m["seq"] for m in page["messages"]]
            before = page["next_before_seq"]
            assert asked < 10
        elapsed = time.monotonic() - started
        assert got[:150] == want[:150]
        print(f"{asked} search pages over {len(seeded)} messages: {elapsed:.2f}s")
    finally:
        await client.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_regex_metacharacters_match_only_themselves(
    server: ChatServer, haystack: str, seeded: list[dict[str, Any]]
) -> None:
    """`$5.00 (net)?` finds the two texts that contain it in some case, not `$5X00`.

    They lie below the newest 5,000 messages, more than the walk without the index reads
    a page: the index finds both in the first page, which says there is no more."""
    pages = search_all(server, haystack, "$5.00 (net)?")
    assert (len(pages), pages[0]["has_more"], pages[0]["next_before_seq"]) == (1, False, None)
    found = [m for page in pages for m in page["messages"]]
    assert [m["text"] for m in found] == ["PRICE: $5.00 (NET)?!", "Price: $5.00 (net)?"]
    assert [m["seq"] for m in found] == expected(seeded, "$5.00 (net)?")
    found = [m for page in search_all(server, haystack, "[c] \\d*") for m in page["messages"]]
    assert [m["text"] for m in found] == ["a+b=[c] \\d*"]
    status, body = get_json(server, f"/api/rooms/{haystack}/search", q="  ")
    assert (status, body["code"], body["field"]) == (422, "empty_query", "q")


@pytest.mark.asyncio(loop_scope="module")
async def test_rest_search_pages_with_before_seq(
    server: ChatServer, haystack: str, seeded: list[dict[str, Any]]
) -> None:
    """GET /api/rooms/<room>/search pages like the socket: before_seq and limit."""
    want = expected(seeded, "Lunch at noon")
    first = get_json(server, f"/api/rooms/{haystack}/search", q="lunch AT noon", limit=10)[1]
    assert len(first["messages"]) == 10 and first["next_before_seq"] == want[9]
    second = get_json(
        server,
        f"/api/rooms/{haystack}/search",
        q="lunch AT noon",
        limit=10,
        before_seq=first["next_before_seq"],
    )[1]
    assert [m["seq"] for m in first["messages"] + second["messages"]] == want[:20]
    assert first["has_more"] and second["before_seq"] == want[9]


@pytest.mark.asyncio(loop_scope="module")
async def test_jumping_to_a_result_loads_its_context(
    server: ChatServer, haystack: str, seeded: list[dict[str, Any]]
) -> None:
    """history around_seq: the match with the messages just before and after it, in order."""
    client = await Client.join(server, haystack, "jumper")
    try:
        hits: list[dict[str, Any]] = []
        request: dict[str, Any] = {"type": "search", "q": "a+b=[C]"}
        while not hits:
            await client.send(request)
            page = await client.expect("search", timeout=30)
            hits, request["before_seq"] = page["messages"], page["next_before_seq"]
        (hit,) = hits
        await client.send({"type": "history", "around_seq": hit["seq"], "limit": 50})
        page = await client.expect("history", timeout=30)
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs == list(range(hit["seq"] - 25, hit["seq"] + 25))
        assert page["messages"][25]["text"] == "a+b=[c] \\d*"
        assert (page["around_seq"], page["has_more"], page["has_newer"]) == (hit["seq"], True, True)
        await client.send({"type": "history", "around_seq": 1, "before_seq": 5})
        assert (await client.expect("error"))["code"] == "invalid_field"
    finally:
        await client.close()
