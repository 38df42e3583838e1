"""Hostile frames against a real server: each gets a clear answer, and nothing of the
connection outlives it (its per-address slot, its presence, its worker).

The server allows 3 sockets per address, so a socket whose slot leaked would lock the
address out after a few of these; every test opens and closes more sockets than that.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.chatserver import ChatServer, Client, run_chat_server
from tests.conftest import require_services
from tests.e2e.test_chat_ws import worker_pids

pytestmark = pytest.mark.services

MAX_PER_ADDRESS = 3


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    require_services()
    env = {
        "CHAT_MAX_CONNECTIONS_PER_IP": str(MAX_PER_ADDRESS),
        "CHAT_NEW_CONNECTIONS_PER_S_PER_IP": "0",
    }
    with run_chat_server(workers=1, env=env) as running:
        yield running


LONE = "@lone@"


def frame(**fields: Any) -> str:
    """JSON of `fields` with each LONE as a lone surrogate's escape (valid JSON, not UTF-8)."""
    return json.dumps(fields).replace(LONE, "\\ud800")


HOSTILE = {
    "after_seq past int64": ('{"type":"history","after_seq":9223372036854775808}', "invalid_field"),
    "before_seq at 2^63": ('{"type":"history","before_seq":9223372036854775808}', "invalid_field"),
    "around_seq at 2^63": ('{"type":"history","around_seq":9223372036854775808}', "invalid_field"),
    "after_seq past 2^53": ('{"type":"history","after_seq":9007199254740993}', "invalid_field"),
    "search before_seq 2^70": (
        frame(type="search", q="x", before_seq=2**70),
        "invalid_field",
    ),
    "nested 30,000 deep": ("[" * 30_000 + "]" * 30_000, "invalid_json"),
    "lone surrogate in a search": (frame(type="search", q="x" + LONE), "invalid_field"),
    "lone surrogate in a schedule": (
        frame(type="schedule", text="x" + LONE, deliver_at="now"),
        "invalid_field",
    ),
    "lone surrogate in a message": (
        frame(type="message", text="x" + LONE, client_id="c1"),
        "invalid_field",
    ),
    "lone surrogate in a client_id": (
        frame(type="message", text="x", client_id="c" + LONE),
        "invalid_field",
    ),
}


async def answered(client: Client) -> None:
    """The connection still serves: a history request of its own gets its page."""
    await client.send({"type": "history", "before_seq": 1, "limit": 1})
    page = await client.expect("history")
    assert page["before_seq"] == 1


async def left(observer: Client, name: str) -> None:
    """The observer is told `name` left the room (its presence was released)."""
    while True:
        event = await observer.expect("presence.leave", timeout=10)
        if event["name"] == name:
            return


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_frame_gets_an_error_and_releases_everything_on_close(
    server: ChatServer, room: str, case: str
) -> None:
    """The frame's error; the socket goes on; closed, its presence and slot are released."""
    sent, code = HOSTILE[case]
    pids = worker_pids(server)
    observer = await Client.join(server, room, "observer")
    try:
        for attempt in range(MAX_PER_ADDRESS + 1):
            name = f"hostile{attempt}"
            hostile = await Client.join(server, room, name)
            await hostile.send(sent)
            error = await hostile.expect("error")
            assert error["code"] == code, error
            await answered(hostile)
            await hostile.close()
            await left(observer, name)
        stored = await fetch_json(f"{server.http_url}/api/rooms/{room}/messages")
        assert stored["messages"] == [], "a refused message was stored"
    finally:
        await observer.close()
    assert worker_pids(server) == pids, "the worker died"


async def test_an_after_seq_of_5000_digits_is_refused_and_its_slot_released(
    server: ChatServer, room: str
) -> None:
    """The connection URL's cursor: an error, close 4400, and the address is not locked out."""
    url = server.ws_url(room, "hostile") + "&after_seq=" + "9" * 5000
    for _ in range(MAX_PER_ADDRESS + 1):
        async with websockets.connect(url, open_timeout=10) as ws:
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (error["type"], error["code"]) == ("error", "invalid_field")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 4400
    client = await Client.join(server, room, "after")
    await client.close()


async def test_a_frame_over_a_mebibyte_closes_with_1009(server: ChatServer, room: str) -> None:
    """Past daphne's frame limit: a close with 'message too big', not a dropped connection."""
    for _ in range(MAX_PER_ADDRESS + 1):
        client = await Client.join(server, room, "big", max_size=None)
        await client.ws.send("x" * (2 * 1024 * 1024))
        with pytest.raises(websockets.ConnectionClosed):
            await client.expect("never", timeout=10)
        assert client.ws.close_code == 1009
    client = await Client.join(server, room, "after")
    await client.close()


async def test_a_frame_between_the_protocol_limit_and_a_mebibyte_is_frame_too_large(
    server: ChatServer, room: str
) -> None:
    client = await Client.join(server, room, "big")
    try:
        await client.send("x" * (200 * 1024))
        assert (await client.expect("error"))["code"] == "frame_too_large"
        await answered(client)
    finally:
        await client.close()


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(server: ChatServer, room: str) -> None:
    for _ in range(MAX_PER_ADDRESS + 1):
        client = await Client.join(server, room, "bytes")
        await client.ws.send(b'{"type":"typing","x":"\xff\xfe"}', text=True)
        with pytest.raises(websockets.ConnectionClosed):
            await client.expect("never", timeout=10)
        assert client.ws.close_code == 1007
    client = await Client.join(server, room, "after")
    await client.close()


async def test_rest_refuses_a_lone_surrogate_with_422_and_stores_nothing(
    server: ChatServer, room: str
) -> None:
    """POST with text "x\\ud800": a JSON error, never a 500 (and other posts go on)."""
    url = f"{server.http_url}/api/rooms/{room}/messages"
    status, answer = await post(url, frame(text="x" + LONE, author="rest"))
    assert (status, answer["code"], answer["field"]) == (422, "invalid_field", "text")
    status, _ = await post(url, frame(text="fine", author="rest", client_id="c" + LONE))
    assert status == 422
    status, answer = await post(url, "[" * 30_000 + "]" * 30_000)
    assert status == 400 and answer["code"] == "invalid_json"
    status, answer = await post(url, '{"text":"fine","author":"rest"}')
    assert status == 201 and answer["seq"] == 1
    for query in ("after_seq=" + "9" * 5000, "before_seq=9007199254740993"):
        status, answer = await get(f"{url}?{query}")
        assert (status, answer["code"]) == (422, "invalid_field"), query


async def fetch_json(url: str) -> Any:
    status, answer = await get(url)
    assert status == 200, answer
    return answer


async def get(url: str) -> tuple[int, Any]:
    return await asyncio.to_thread(_request, urllib.request.Request(url))


async def post(url: str, body: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    return await asyncio.to_thread(_request, request)


def _request(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_a_search_loop_is_rate_limited_with_a_retry_time(
    server: ChatServer, room: str
) -> None:
    """Searches past the socket's burst (5) are refused with when to try again."""
    client = await Client.join(server, room, "searcher")
    try:
        for _ in range(8):
            await client.send({"type": "search", "q": "x"})
        answers = []
        while len(answers) < 8:
            event = await client.recv()
            if event["type"] in ("search", "error"):
                answers.append(event)
        kinds = [a["type"] if a["type"] == "search" else a["code"] for a in answers]
        assert kinds.count("search") == 5 and kinds.count("rate_limited") == 3, kinds
        assert all(a["retry_after_ms"] > 0 for a in answers if a["type"] == "error")
    finally:
        await client.close()
