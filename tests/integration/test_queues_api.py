"""The queue API over HTTP (Django's client, real Redis): auth, codes, the room feed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.identity import tokens
from chat.messages import roomqueues, services
from chat.queues import registry
from chat.queues import services as queue_services

pytestmark = pytest.mark.django_db(transaction=True)


class Bot:
    """A client sending a `queues` token on every request (AsyncClient keeps no headers)."""

    def __init__(self, raw: str) -> None:
        self.client, self.headers = AsyncClient(), {"Authorization": f"Bearer {raw}"}

    async def get(self, path: str) -> Any:
        return await self.client.get(path, headers=self.headers)

    async def delete(self, path: str) -> Any:
        return await self.client.delete(path, headers=self.headers)


@pytest.fixture
async def bot() -> Bot:
    """A client with a `queues` token."""
    user = await sync_to_async(get_user_model().objects.create_user)(f"bot{uuid.uuid4().hex[:6]}")
    _, raw = await sync_to_async(tokens.create_token)(user, name="bot", scopes=["queues"])
    return Bot(raw)


@pytest.fixture
async def queue() -> AsyncIterator[str]:
    name = f"api-{uuid.uuid4().hex[:10]}"
    yield name
    await registry.delete(name)


async def call(bot: Bot, method: str, path: str, body: Any = None) -> Any:
    send = getattr(bot.client, method)
    return await send(path, body or {}, content_type="application/json", headers=bot.headers)


async def test_without_an_account_every_call_is_401(queue: str) -> None:
    answer = await AsyncClient().get(f"/api/queues/{queue}")
    assert (answer.status_code, answer.json()["code"]) == (401, "not_signed_in")


async def test_a_token_creates_sends_receives_and_acknowledges(bot: Bot, queue: str) -> None:
    made = await call(bot, "put", f"/api/queues/{queue}", {"visibility_s": 5, "max_receives": 2})
    assert made.status_code == 201, made.content
    assert (await call(bot, "put", f"/api/queues/{queue}", {"visibility_s": 6})).status_code == 200
    sent = await call(bot, "post", f"/api/queues/{queue}/messages", {"body": {"a": [1, 2]}})
    assert sent.status_code == 201
    got = await call(bot, "post", f"/api/queues/{queue}/receive", {"max": 10})
    [message] = got.json()["messages"]
    assert (message["id"], message["body"], message["receives"]) == (
        sent.json()["id"],
        {"a": [1, 2]},
        1,
    )
    listed = {q["name"]: q for q in (await bot.get("/api/queues")).json()["items"]}
    assert (listed[queue]["ready"], listed[queue]["in_flight"]) == (0, 1)
    assert listed[queue]["visibility_s"] == 6
    path = f"/api/queues/{queue}/messages/{message['id']}"
    stale = await bot.delete(f"{path}?receipt=1-0.nope")
    assert (stale.status_code, stale.json()["code"]) == (409, "stale_receipt")
    extended = await call(bot, "post", f"{path}/extend", {"receipt": message["receipt"]})
    assert extended.json() == {"visibility_s": 6}
    assert (await bot.delete(f"{path}?receipt={message['receipt']}")).status_code == 204
    assert (await bot.delete(f"{path}?receipt={message['receipt']}")).status_code == 404
    assert (await bot.get(f"/api/queues/{queue}/dead")).json() == {"items": []}
    assert (await call(bot, "post", f"/api/queues/{queue}/dead/redrive")).json() == {"moved": 0}
    assert (await bot.delete(f"/api/queues/{queue}")).status_code == 204
    assert (await bot.get(f"/api/queues/{queue}")).status_code == 404


async def test_batches_send_and_acknowledge_many_in_one_request(bot: Bot, queue: str) -> None:
    await call(bot, "put", f"/api/queues/{queue}", {})
    bodies = [{"body": i} for i in range(5)] + [{"body": "x", "client_id": "k"}] * 2
    sent = await call(bot, "post", f"/api/queues/{queue}/messages/batch", {"messages": bodies})
    assert sent.status_code == 201
    ids = sent.json()["ids"]
    assert len(ids) == 7 and ids[5] == ids[6] and len(set(ids)) == 6
    got = (await call(bot, "post", f"/api/queues/{queue}/receive", {"max": 100})).json()
    pairs = [{"id": m["id"], "receipt": m["receipt"]} for m in got["messages"]]
    assert sorted(p["id"] for p in pairs) == sorted(set(ids))
    pairs.append({"id": pairs[0]["id"], "receipt": "1-0.stale"})
    acked = (await call(bot, "post", f"/api/queues/{queue}/ack", {"messages": pairs})).json()
    assert sorted(acked["acked"]) == sorted(set(ids)) and acked["unknown"] == [pairs[0]["id"]]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/messages", {"body": "x" * (256 * 1024)}, 413, "body_too_large"),
        ("/messages", {"delay_s": 1}, 422, "invalid_field"),
        ("/messages", {"body": 1, "extra": 1}, 422, "invalid_field"),
        ("/receive", {"max": 101}, 422, "invalid_field"),
        ("/receive", {"wait_s": 21}, 422, "invalid_field"),
    ],
)
async def test_bad_input_is_a_4xx_with_a_json_code(
    bot: Bot, queue: str, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    await call(bot, "put", f"/api/queues/{queue}", {})
    answer = await call(bot, "post", f"/api/queues/{queue}{path}", body)
    assert (answer.status_code, answer.json()["code"]) == (status, code)


async def test_a_bad_room_or_unknown_queue_is_refused(bot: Bot, queue: str) -> None:
    bad_room = await call(bot, "put", f"/api/queues/{queue}", {"room": "no spaces"})
    assert (bad_room.status_code, bad_room.json()["field"]) == (422, "room")
    unknown = await call(bot, "post", f"/api/queues/{queue}/messages", {"body": 1})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


async def drain(queue: str, want: int) -> list[dict[str, Any]]:
    """Receive and ack until `want` messages came (bounded), in the order received."""
    got: list[dict[str, Any]] = []
    for _ in range(200):
        if len(got) >= want:
            break
        await roomqueues.feed_all()
        for message in await queue_services.messages_receive(queue=queue, max_messages=100):
            got.append(message.body)
            await queue_services.message_ack(
                queue=queue, message_id=message.id, receipt=message.receipt
            )
        await asyncio.sleep(0.02)
    return got


async def test_a_room_bound_queue_gets_each_message_after_binding_once_in_seq_order(
    room: str, queue: str
) -> None:
    """Two feeders racing over 60 messages stored concurrently: each seq once, in order; a
    seq given up (a resend's) does not stop the feed."""
    await services.message_create(room=room, author="a", text="before binding")
    await roomqueues.queue_put(name=queue, visibility_s=30, max_receives=5, room=room)
    posted = await asyncio.gather(
        *(services.message_create(room=room, author="a", text=f"m{i}") for i in range(60)),
        roomqueues.feed_all(),
        roomqueues.feed_all(),
    )
    resend = await services.message_create(room=room, author="a", text="m0b", client_id="c1")
    await services.message_create(room=room, author="a", text="m0b", client_id="c1")
    last = await services.message_create(room=room, author="a", text="after the resend")
    got = await drain(queue, 62)
    seqs = [message["seq"] for message in got]
    expected = sorted([m.seq for m in posted[:60]] + [resend.seq, last.seq])
    assert seqs == expected
    assert [m["text"] for m in got][-2:] == ["m0b", "after the resend"]
