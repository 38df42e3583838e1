"""The HTTP transports against real runchat: long-polls, frames sent over HTTP, and event
streams (ids, Last-Event-ID, heartbeats, presence, limits and shutdown)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.chatserver import ChatServer, Client, run_chat_server
from tests.conftest import require_services
from tests.sse_client import SseClient

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    """Two workers, a heartbeat every second (the default is 15 s)."""
    require_services()
    with run_chat_server(workers=2, env={"CHAT_SSE_HEARTBEAT_S": "1"}) as running:
        yield running


def _request(method: str, url: str, body: Any = None, timeout: float = 40) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """An HTTP request from a thread, so the test's loop keeps serving its WebSockets."""
    return await asyncio.to_thread(_request, method, url, body)


def events_url(server: ChatServer, room: str, **query: Any) -> str:
    params = "&".join(f"{key}={quote(str(value))}" for key, value in query.items())
    return f"{server.http_url}/api/rooms/{room}/events?{params}"


async def frame(server: ChatServer, room: str, name: str, event: dict[str, Any]) -> list[Any]:
    status, body = await call(
        "POST", f"{server.http_url}/api/rooms/{room}/frames?name={quote(name)}", event
    )
    assert status == 200, body
    return body["events"]  # type: ignore[no-any-return]


async def say(server: ChatServer, room: str, text: str, client_id: str) -> dict[str, Any]:
    (ack,) = await frame(
        server, room, "poster", {"type": "message", "text": text, "client_id": client_id}
    )
    assert ack["type"] == "ack", ack
    return ack  # type: ignore[no-any-return]


async def test_a_poll_answers_at_once_with_what_was_said_after_its_seq(
    server: ChatServer, room: str
) -> None:
    for n in range(1, 4):
        await say(server, room, f"m{n}", f"c{n}")
    status, body = await call("GET", events_url(server, room, after_seq=1, wait_s=20, name="p"))
    assert status == 200
    assert [e["text"] for e in body["events"]] == ["m2", "m3"]
    assert [e["seq"] for e in body["events"]] == [2, 3] and body["last_seq"] == 3


async def test_a_held_poll_answers_within_200_ms_of_a_message_being_stored(
    server: ChatServer, room: str
) -> None:
    poll = asyncio.create_task(call("GET", events_url(server, room, after_seq=0, wait_s=20)))
    await asyncio.sleep(0.5)  # the poll reaches its wait
    assert not poll.done(), "an empty room's poll answered before anything was said"
    await say(server, room, "wake up", "w1")
    stored_at = time.monotonic()
    status, body = await asyncio.wait_for(poll, 10)
    answered_in = time.monotonic() - stored_at
    assert status == 200 and [e["text"] for e in body["events"]] == ["wake up"]
    assert body["last_seq"] == 1
    assert answered_in < 0.2, f"the held poll answered {answered_in * 1000:.0f} ms after the ack"


async def test_a_poll_that_hears_nothing_answers_empty_when_its_wait_is_over(
    server: ChatServer, room: str
) -> None:
    await say(server, room, "only", "c1")
    started = time.monotonic()
    status, body = await call("GET", events_url(server, room, after_seq=1, wait_s=0.5, name="p"))
    assert status == 200 and body == {"events": [], "last_seq": 1}
    assert time.monotonic() - started >= 0.5


async def test_a_poll_hears_typing_and_presence_too(server: ChatServer, room: str) -> None:
    poll = asyncio.create_task(
        call("GET", events_url(server, room, after_seq=0, wait_s=20, name="p"))
    )
    await asyncio.sleep(0.5)
    joiner = await Client.join(server, room, "joiner")
    try:
        status, body = await asyncio.wait_for(poll, 10)
    finally:
        await joiner.close()
    assert status == 200
    assert {"type": "presence.join", "name": "joiner"}.items() <= body["events"][0].items()


async def test_a_welcome_poll_answers_as_a_socket_opens(server: ChatServer, room: str) -> None:
    await say(server, room, "before", "c1")
    status, body = await call("GET", events_url(server, room, welcome="true", name="ann"))
    assert status == 200
    welcome, history, presence = body["events"]
    assert (welcome["type"], welcome["name"], welcome["last_seq"]) == ("welcome", "ann", 1)
    assert [m["text"] for m in history["messages"]] == ["before"]
    assert presence["type"] == "presence"
    assert body["last_seq"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"wait_s": 5}, "after_seq"),
        ({"after_seq": 0, "wait_s": 31}, "wait_s"),
        ({"welcome": "true", "name": " "}, "name"),
    ],
)
async def test_a_poll_with_bad_arguments_is_refused_clearly(
    server: ChatServer, room: str, query: dict[str, Any], field: str
) -> None:
    status, body = await call("GET", events_url(server, room, **query))
    assert status == 422 and body["field"] == field


async def test_frames_over_http_are_answered_as_on_the_socket(
    server: ChatServer, room: str
) -> None:
    first = await say(server, room, "hello", "same")
    again = await say(server, room, "hello", "same")  # a resend: the same ack, nothing new
    assert again == first
    (page,) = await frame(server, room, "ann", {"type": "history", "before_seq": 5})
    assert page["type"] == "history" and [m["text"] for m in page["messages"]] == ["hello"]
    (error,) = await frame(server, room, "ann", {"type": "message", "text": ""})
    assert error["type"] == "error" and error["code"] == "empty_text"
    (error,) = await frame(server, room, "ann", {"type": "no such thing"})
    assert error["type"] == "error"
    status, body = await call(
        "POST", f"{server.http_url}/api/rooms/{room}/frames?name=%20", {"type": "typing"}
    )
    assert status == 422 and body["code"] == "invalid_name"


async def test_a_stream_carries_the_session_with_ids_that_follow_the_seq(
    server: ChatServer, room: str
) -> None:
    stream = await SseClient.open(server.port, room, "streamer")
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        _, welcome = await stream.expect("welcome")
        await stream.expect("history")
        _, presence = await stream.expect("presence")
        assert welcome["name"] == "streamer" and "streamer" in presence["members"]
        watcher = await Client.join(server, room, "watcher")
        try:
            assert "streamer" in (await watcher.expect("presence"))["members"]
        finally:
            await watcher.close()
        for seq, text in enumerate(["one", "two"], start=1):
            await say(server, room, text, f"c{seq}")
            event, message = await stream.expect("message")
            assert message["text"] == text and event.id == str(seq)
        heartbeat = await stream.next(5)
        while heartbeat is not None and not heartbeat.comment:
            heartbeat = await stream.next(5)
        assert heartbeat is not None and heartbeat.comment
    finally:
        await stream.close()


async def test_a_stream_resumes_exactly_after_its_last_event_id(
    server: ChatServer, room: str
) -> None:
    for n in range(1, 6):
        await say(server, room, f"m{n}", f"c{n}")
    stream = await SseClient.open(server.port, room, "back", after_seq=1, last_event_id="3")
    try:
        _, welcome = await stream.expect("welcome")
        event, page = await stream.expect("history")
        assert welcome["last_seq"] == 5
        assert page["after_seq"] == 3 and [m["seq"] for m in page["messages"]] == [4, 5]
        assert event.id == "5"
    finally:
        await stream.close()


async def test_a_refused_stream_says_why_and_how_it_closed(server: ChatServer, room: str) -> None:
    stream = await SseClient.open(server.port, room, " ")
    try:
        _, error = await stream.expect("error")
        assert error["code"] == "invalid_name"
        closing = await stream.next()
        assert closing is not None and (closing.event, closing.data) == ("close", "4400")
        assert await stream.next() is None
    finally:
        await stream.close()


@pytest.fixture
def limited_server() -> Iterator[ChatServer]:
    """One worker allowing two connections per address."""
    require_services()
    with run_chat_server(workers=1, env={"CHAT_MAX_CONNECTIONS_PER_IP": "2"}) as running:
        yield running


async def test_held_polls_and_streams_count_against_the_address_and_end_on_shutdown(
    limited_server: ChatServer, room: str
) -> None:
    """Two held at once are allowed, a third is refused; SIGTERM answers the poll and ends
    the stream."""
    server = limited_server
    stream = await SseClient.open(server.port, room, "s")
    try:
        await stream.expect("presence")
        for _ in range(20):  # until the stream's own join has been announced
            status, body = await call("GET", events_url(server, room, after_seq=0, wait_s=0.5))
            if status == 200 and body["events"] == []:
                break
        poll = asyncio.create_task(call("GET", events_url(server, room, after_seq=0, wait_s=30)))
        await asyncio.sleep(0.5)  # the poll reaches its wait
        status, body = await call("GET", events_url(server, room, after_seq=0, wait_s=1))
        assert status == 429 and body["code"] == "too_many_connections"
        assert not poll.done()
        server.process.send_signal(signal.SIGTERM)
        status, body = await asyncio.wait_for(poll, 15)
        assert status == 200 and body["events"] == []
        while (event := await stream.next(15)) is not None:
            last = event
        assert (last.event, last.data) == ("close", "1001")
    finally:
        await stream.close()
