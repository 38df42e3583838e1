"""The REST API for rooms and messages, against the real Redis and MongoDB-compatible servers."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.infra.clients import close_all
from chat.limits import readlimits
from chat.messages import services, store
from chat.protocol import group_name

# Posting checks the author against the registered users (Django's tables).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client() -> AsyncClient:
    return AsyncClient()


def url(room: str) -> str:
    return f"/api/rooms/{room}/messages"


async def post(client: AsyncClient, room: str, body: Any) -> Any:
    return await client.post(url(room), body, content_type="application/json")


async def fill(room: str, count: int) -> list[int]:
    """Store `count` messages through the service; return their seqs."""
    return [
        (await services.message_create(room=room, author="seed", text=f"m{i}")).seq
        for i in range(count)
    ]


async def test_rooms_list_counts_and_last_activity_most_recent_first(client: AsyncClient) -> None:
    """Each room with messages appears once, with its count, newest seq and time."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    busy, quiet = f"{prefix}-busy", f"{prefix}-quiet"
    await fill(busy, 3)
    # Times are kept to the millisecond: the quiet room's message must come a tick later.
    await asyncio.sleep(0.002)
    last = await services.message_create(room=quiet, author="a", text="latest")
    response = await client.get("/api/rooms", {"limit": 1000})
    assert response.status_code == 200
    rooms = {r["room"]: r for r in response.json()}
    assert rooms[busy]["messages"] == 3 and rooms[busy]["last_seq"] == 3
    assert rooms[quiet]["messages"] == 1 and rooms[quiet]["last_seq"] == last.seq
    assert datetime.fromisoformat(rooms[quiet]["last_ts"]) == last.ts
    names = [r["room"] for r in response.json()]
    assert names.index(quiet) < names.index(busy)
    timestamps = [r["last_ts"] for r in response.json()]
    assert timestamps == sorted(timestamps, reverse=True)


async def test_rooms_list_busiest_first_and_limited(client: AsyncClient) -> None:
    """order=busiest sorts by message count; limit cuts the list."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    await fill(f"{prefix}-big", 4)
    await fill(f"{prefix}-small", 1)
    everything = (await client.get("/api/rooms", {"order": "busiest", "limit": 1000})).json()
    counts = [r["messages"] for r in everything]
    assert counts == sorted(counts, reverse=True)
    names = [r["room"] for r in everything]
    assert names.index(f"{prefix}-big") < names.index(f"{prefix}-small")
    assert len((await client.get("/api/rooms", {"limit": 1})).json()) == 1


async def test_a_room_whose_messages_were_deleted_is_not_listed(
    client: AsyncClient, room: str
) -> None:
    """Rooms are the ones holding messages now."""
    await fill(room, 1)
    await store.delete_messages(room=room)
    assert room not in [r["room"] for r in (await client.get("/api/rooms")).json()]


async def test_newest_page_then_older_pages_until_has_more_is_false(
    client: AsyncClient, room: str
) -> None:
    """Like the WebSocket history: ascending seq, before_seq echoed, has_more towards older."""
    seqs = await fill(room, 7)
    newest = (await client.get(url(room), {"limit": 3})).json()
    assert [m["seq"] for m in newest["messages"]] == seqs[-3:]
    assert newest["has_more"] is True
    assert newest["before_seq"] is None and newest["after_seq"] is None
    first = newest["messages"][0]
    assert set(first) == {"type", "id", "seq", "room", "author", "account", "text", "ts"}
    assert first["type"] == "message" and first["room"] == room and first["text"] == "m4"
    collected = newest["messages"]
    page = newest
    while page["has_more"]:
        cursor = collected[0]["seq"]
        page = (await client.get(url(room), {"before_seq": cursor, "limit": 3})).json()
        assert page["before_seq"] == cursor and page["after_seq"] is None
        collected = page["messages"] + collected
    assert [m["seq"] for m in collected] == seqs


async def test_after_seq_pages_forward_until_has_more_is_false(
    client: AsyncClient, room: str
) -> None:
    """after_seq returns the oldest messages above the cursor; has_more towards newer."""
    seqs = await fill(room, 5)
    cursor, collected, has_more = 0, [], True
    while has_more:
        page = (await client.get(url(room), {"after_seq": cursor, "limit": 2})).json()
        assert page["after_seq"] == cursor and page["before_seq"] is None
        collected += [m["seq"] for m in page["messages"]]
        cursor, has_more = collected[-1], page["has_more"]
    assert collected == seqs
    empty = (await client.get(url(room), {"after_seq": seqs[-1]})).json()
    assert empty["messages"] == [] and empty["has_more"] is False


async def test_an_unknown_room_has_an_empty_history(client: AsyncClient, room: str) -> None:
    """A valid room without messages is an empty page, not a 404."""
    page = (await client.get(url(room))).json()
    assert page == {"messages": [], "has_more": False, "before_seq": None, "after_seq": None}


async def test_room_names_are_case_insensitive(client: AsyncClient, room: str) -> None:
    """/api/rooms/Lobby/... is room lobby, as on the WebSocket."""
    posted = await post(client, room.upper(), {"text": "hi", "author": "alice"})
    assert posted.status_code == 201
    page = (await client.get(url(room.upper()))).json()
    assert [m["room"] for m in page["messages"]] == [room]


async def test_post_stores_fans_out_and_returns_id_and_seq(client: AsyncClient, room: str) -> None:
    """A POST is a producer: stored, broadcast to the room like a WebSocket message, confirmed."""
    await fill(room, 2)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(room), channel)
    try:
        response = await post(
            client, room, {"text": "from REST", "author": " bot ", "client_id": "c-1"}
        )
        # fill() returns once its messages are stored; their broadcasts may still arrive here.
        broadcasts: list[dict[str, Any]] = []
        while not any(b["seq"] == 3 for b in broadcasts):
            event = await asyncio.wait_for(layer.receive(channel), 5)
            broadcasts += (json.loads(text) for text in event["texts"])
    finally:
        await layer.group_discard(group_name(room), channel)
        await layer.flush()
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"id": body["id"], "seq": 3, "client_id": "c-1"}
    (broadcast,) = (b for b in broadcasts if b["seq"] > 2)
    assert broadcast["id"] == body["id"] and broadcast["seq"] == 3
    assert broadcast["author"] == "bot" and broadcast["text"] == "from REST"
    page = (await client.get(url(room), {"after_seq": 2})).json()
    assert page["messages"] == [broadcast]


async def test_a_registered_name_is_refused_to_guests_and_users_post_as_themselves(
    client: AsyncClient, room: str
) -> None:
    """No session: 422 name_taken for a user's name; signed in: posted under the account."""
    user = await get_user_model().objects.acreate_user("alice", password="pw-not-checked-here")
    refused = await post(client, room, {"text": "hi", "author": "Alice"})
    await client.aforce_login(user)
    posted = await post(client, room, {"text": "hi", "author": "whoever"})
    page = (await client.get(url(room))).json()
    assert refused.status_code == 422
    assert (refused.json()["code"], refused.json()["field"]) == ("name_taken", "author")
    assert posted.status_code == 201
    assert [(m["author"], m["account"]) for m in page["messages"]] == [("alice", "alice")]


async def test_post_without_client_id_confirms_with_null(client: AsyncClient, room: str) -> None:
    """client_id is optional; the confirmation then carries null."""
    response = await post(client, room, {"text": "hello", "author": "alice"})
    assert response.status_code == 201
    assert response.json()["client_id"] is None and response.json()["seq"] == 1


async def test_a_repeated_client_id_returns_the_original_and_stores_nothing(
    client: AsyncClient, room: str
) -> None:
    """A retry answers 201 with the first id and seq; the room still holds one message."""
    body = {"text": "once", "author": "alice", "client_id": "retry-me"}
    first = await post(client, room, body)
    second = await post(client, room, {**body, "text": "changed"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    page = (await client.get(url(room))).json()
    assert [m["text"] for m in page["messages"]] == ["once"]
    assert await store.count_messages(room=room) == 1


async def test_a_store_outage_is_a_503_not_stored(
    client: AsyncClient, room: str, settings: Any
) -> None:
    """When the message cannot be stored in time the answer is 503 `not_stored`, as JSON."""
    settings.CHAT_STORE_TIMEOUT_S = 0.0
    response = await post(client, room, {"text": "lost", "author": "alice"})
    assert response.status_code == 503
    assert response.json()["code"] == "not_stored" and response.json()["message"]


async def test_reads_while_the_store_is_down_are_a_503_unavailable(
    client: AsyncClient, room: str, settings: Any
) -> None:
    """A MongoDB that does not answer makes reads a 503 `unavailable`, as JSON, not a 500."""
    await close_all()
    settings.MONGO_URL = "mongodb://127.0.0.1:1/"
    for path in (url(room), "/api/rooms"):
        response = await client.get(path)
        assert response.status_code == 503, path
        assert response.json()["code"] == "unavailable" and response.json()["message"]


@pytest.mark.parametrize(
    ("room", "query", "field", "code"),
    [
        ("Not a room!", {}, "room", "invalid_room"),
        ("-dash-first", {}, "room", "invalid_room"),
        ("x" * 65, {}, "room", "invalid_room"),
        ("ok", {"before_seq": 0}, "before_seq", "invalid_field"),
        ("ok", {"before_seq": "abc"}, "before_seq", "invalid_field"),
        ("ok", {"after_seq": -1}, "after_seq", "invalid_field"),
        ("ok", {"after_seq": 2**63}, "after_seq", "invalid_field"),
        ("ok", {"limit": 0}, "limit", "invalid_field"),
        ("ok", {"limit": 201}, "limit", "invalid_field"),
        ("ok", {"before_seq": 5, "after_seq": 1}, "after_seq", "invalid_field"),
    ],
)
async def test_history_validation_errors_name_the_field(
    client: AsyncClient, room: str, query: dict[str, Any], field: str, code: str
) -> None:
    """Every bad path or query value is a 422 with a code, a message and the field."""
    response = await client.get(url(room), query)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == code and error["field"] == field and error["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"order": "loudest"}, "order")],
)
async def test_room_list_validation_errors_name_the_field(
    client: AsyncClient, query: dict[str, Any], field: str
) -> None:
    """Bad listing parameters are a 422 naming the parameter."""
    response = await client.get("/api/rooms", query)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_field" and response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"author": "a"}, "text", "empty_text"),
        ({"text": "", "author": "a"}, "text", "empty_text"),
        ({"text": " \n ", "author": "a"}, "text", "empty_text"),
        ({"text": "x" * 4001, "author": "a"}, "text", "text_too_long"),
        ({"text": 5, "author": "a"}, "text", "invalid_field"),
        ({"text": "hi"}, "author", "invalid_field"),
        ({"text": "hi", "author": "  "}, "author", "invalid_name"),
        ({"text": "hi", "author": "x" * 33}, "author", "invalid_name"),
        ({"text": "hi", "author": "a\u0007b"}, "author", "invalid_name"),
        ({"text": "hi", "author": "a", "client_id": ""}, "client_id", "invalid_field"),
        ({"text": "hi", "author": "a", "client_id": "c" * 65}, "client_id", "invalid_field"),
        ({"text": "hi", "author": "a", "client_id": 7}, "client_id", "invalid_field"),
        ({"text": "hi", "author": "a", "seq": 1}, "seq", "invalid_field"),
    ],
)
async def test_post_validation_errors_name_the_field(
    client: AsyncClient, room: str, body: dict[str, Any], field: str, code: str
) -> None:
    """Every bad body field is a 422 with a code, a message and the field; nothing is stored."""
    response = await post(client, room, body)
    assert response.status_code == 422, response.content
    error = response.json()
    assert error["code"] == code and error["field"] == field and error["message"]
    assert await store.count_messages(room=room) == 0


async def test_post_to_a_bad_room_is_invalid_room(client: AsyncClient) -> None:
    """The room is checked like on the WebSocket."""
    response = await post(client, "bad room", {"text": "hi", "author": "a"})
    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid_room",
        "message": response.json()["message"],
        "field": "room",
    }


async def test_post_with_a_body_that_is_not_json_is_invalid_json(
    client: AsyncClient, room: str
) -> None:
    """A body that cannot be parsed is a 400 `invalid_json`."""
    response = await client.post(url(room), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


async def test_the_schema_documents_the_message_endpoints(client: AsyncClient) -> None:
    """/api/openapi.json lists the rooms and messages operations with their error answers."""
    paths = (await client.get("/api/openapi.json")).json()["paths"]
    assert set(paths["/api/rooms/{room}/messages"]) == {"get", "post"}
    assert {"201", "422", "503"} <= set(paths["/api/rooms/{room}/messages"]["post"]["responses"])
    assert "get" in paths["/api/rooms"]


async def test_searches_past_the_address_limit_get_429_with_retry_after(
    client: AsyncClient, room: str, settings: Any
) -> None:
    settings.CHAT_SEARCH_RATE_PER_S = 1
    settings.CHAT_SEARCH_BURST = 1
    settings.CHAT_READ_ADDRESS_FACTOR = 2
    for table in readlimits._addresses.values():
        table.clear()
    answers = [await client.get(f"/api/rooms/{room}/search?q=x") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "rate_limited"
    assert int(answers[2]["Retry-After"]) >= 1


async def test_posting_past_the_senders_rate_gets_429_with_retry_after_as_on_the_websocket(
    client: AsyncClient, room: str, settings: Any
) -> None:
    """The same limit as a socket's messages (chat.limits.senders): one rule for every write."""
    settings.CHAT_RATE_PER_S = 1
    settings.CHAT_RATE_BURST = 2
    answers = [
        await post(client, room, {"text": f"m{i}", "author": "flood", "client_id": f"f{i}"})
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["code"] == "rate_limited"
    assert int(answers[2]["Retry-After"]) >= 1
    other = await post(client, room, {"text": "hi", "author": "calm", "client_id": "c"})
    assert other.status_code == 201, "another sender has a bucket of its own"
    stored = (await client.get(url(room))).json()["messages"]
    assert [m["text"] for m in stored] == ["m0", "m1", "hi"], "all accepted, nothing refused"


async def test_jobs_count_against_the_senders_write_rate(
    client: AsyncClient, settings: Any, room: str
) -> None:
    """A flood of job requests is refused like a flood of messages: 429 with Retry-After."""
    settings.CHAT_RATE_PER_S, settings.CHAT_RATE_BURST = 1, 2
    body = json.dumps({"kind": "stats", "room": room, "name": "hank"})
    answers = [
        await client.post("/api/jobs", body, content_type="application/json") for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["code"] == "rate_limited" and int(answers[2]["Retry-After"]) >= 1


async def test_many_names_from_one_address_share_its_limit(
    client: AsyncClient, room: str, settings: Any
) -> None:
    """Made-up names do not multiply a flood: the address's own bucket refuses it."""
    settings.CHAT_RATE_PER_S, settings.CHAT_RATE_BURST = 100, 100
    settings.CHAT_ADDRESS_RATE_PER_S, settings.CHAT_ADDRESS_RATE_BURST = 1, 3
    answers = [await post(client, room, {"text": "x", "author": f"name{i}"}) for i in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert int(answers[3]["Retry-After"]) >= 1


async def test_a_guest_browser_is_one_sender_whatever_name_it_types(
    client: AsyncClient, room: str, settings: Any
) -> None:
    settings.CHAT_RATE_PER_S, settings.CHAT_RATE_BURST = 1, 2
    assert (await client.get(f"/r/{room}/")).status_code == 200  # the page gives the key
    answers = [await post(client, room, {"text": "x", "author": n}) for n in ("a", "b", "c")]
    assert [a.status_code for a in answers] == [201, 201, 429]
