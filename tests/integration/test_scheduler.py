"""Scheduled messages against the real Redis and store: claims, leases, order, exactly once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings

from chat.errors import ServiceError
from chat.identity.accounts import Identity
from chat.infra.clients import mongo_db, redis
from chat.messages import pages, selectors, sequencing, services, store
from chat.messages.documents import message_id
from chat.protocol import MessageOut, group_name
from chat.scheduled import rules as scheduling
from chat.scheduled import services as scheduled_services
from chat.scheduled import store as scheduler
from chat.scheduled.loop import deliver_one, run_scheduler
from tests.chatserver import ROOT

# On a Redis Cluster a first claim takes its seq in a second step (the room's counter is in
# another slot): seqs need not follow due order across schedulers, and a lost counter is
# re-seeded from the store alone (docs/scheduling.md).
single_server_only = pytest.mark.skipif(
    os.environ.get("REDIS_URL", "").startswith(("redis+cluster", "rediss+cluster")),
    reason="a first claim takes its seq in the claim itself only on one server",
)

WAIT_S = 60.0


@pytest.fixture(autouse=True)
async def clean_queue() -> AsyncIterator[None]:
    """Every test starts and ends with no scheduled messages in Redis."""
    await _drop_scheduled()
    yield
    await _drop_scheduled()


async def _drop_scheduled() -> None:
    keys = [key async for key in redis().scan_iter(match="chat:sched:*", count=1000)]
    for start in range(0, len(keys), 500):
        await redis().delete(*keys[start : start + 500])


def now_ms() -> int:
    return int(time.time() * 1000)


async def schedule(room: str, text: str, deliver_at: str | int = "now", **kw: str) -> str:
    item = await scheduled_services.scheduled_message_create(
        room=room,
        sender=Identity(name=kw.get("author", "alice"), account=None),
        text=text,
        deliver_at=deliver_at,
        client_id=kw.get("client_id"),
    )
    return item.id


async def drain(owner: str = "test") -> int:
    """Deliver everything due now; return how many were delivered."""
    delivered = 0
    while await deliver_one(owner=owner) is None:
        delivered += 1
    return delivered


async def test_a_message_due_now_is_stored_with_a_seq_and_broadcast(room: str) -> None:
    """Delivery takes the same path as a live message: stored with its seq, then fanned out."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(room), channel)
    try:
        live = await services.message_create(room=room, author="bob", text="before")
        scheduled_id = await schedule(room, "scheduled hello")
        assert await drain() == 1
        event = await asyncio.wait_for(layer.receive(channel), 5)  # the live one
        event = await asyncio.wait_for(layer.receive(channel), 5)
    finally:
        await layer.group_discard(group_name(room), channel)
        await layer.flush()
    page = await pages.page_before(room, before_seq=None, limit=10)
    assert [m.text for m in page.messages] == ["before", "scheduled hello"]
    assert page.messages[1].seq == live.seq + 1
    assert event["seq"] == page.messages[1].seq
    stored = await store.find_by_client_id(room, scheduling.store_client_id(scheduled_id))
    assert stored == page.messages[1]


async def test_a_future_message_waits_until_it_is_due(room: str) -> None:
    """Nothing is claimed early; the idle answer says when to look again."""
    due = now_ms() + 400
    await schedule(room, "soon", due)
    idle = await deliver_one(owner="t")
    assert isinstance(idle, scheduler.Idle)
    assert idle.next_ms == due
    await asyncio.sleep(max(0, due - now_ms()) / 1000 + 0.02)
    assert await drain() == 1
    [message] = (await pages.page_before(room, before_seq=None, limit=5)).messages
    assert scheduling.to_ms(message.ts) >= due


async def test_equal_due_times_keep_scheduling_order_and_earlier_due_gets_lower_seq(
    room: str,
) -> None:
    """Claims go by due time, then by id; seqs follow that order."""
    due = now_ms() + 200
    texts = ["c-late", "a-first", "b-second", "d-early"]
    await schedule(room, "c-late", due + 50)
    await schedule(room, "a-first", due)
    await schedule(room, "b-second", due)
    await schedule(room, "d-early", due - 100)
    await asyncio.sleep(0.3)
    assert await drain() == len(texts)
    page = await pages.page_before(room, before_seq=None, limit=10)
    assert [m.text for m in page.messages] == ["d-early", "a-first", "b-second", "c-late"]


async def test_a_resend_with_the_same_client_id_schedules_nothing_new(room: str) -> None:
    """Scheduling is idempotent by (room, client_id), like sending."""
    first, again = [
        await scheduled_services.scheduled_message_create(
            room=room,
            sender=Identity(name="alice", account=None),
            text="once",
            deliver_at=now_ms() + 60_000,
            client_id="c-1",
        )
        for _ in range(2)
    ]
    assert again.id == first.id
    assert again.due_ms == first.due_ms
    assert len(await selectors.scheduled_pending(room=room, holder="alice")) == 1


async def test_a_resend_after_delivery_is_still_recognised(room: str) -> None:
    """The client_id is remembered for a day after delivery: a late resend is not a new message."""
    first = await schedule(room, "once", client_id="c-1")
    await drain()
    again = await schedule(room, "once", client_id="c-1")
    assert again == first
    assert await drain() == 0


async def test_the_pending_list_shows_only_the_authors_undelivered_messages(room: str) -> None:
    """Earliest first; other authors' and delivered messages are not in it."""
    later = await schedule(room, "later", now_ms() + 120_000)
    sooner = await schedule(room, "sooner", now_ms() + 60_000)
    await schedule(room, "bob's", now_ms() + 60_000, author="bob")
    await schedule(room, "now")
    await drain()
    pending = await selectors.scheduled_pending(room=room, holder="alice")
    assert [(p.id, p.text) for p in pending] == [(sooner, "sooner"), (later, "later")]


async def test_cancel_works_while_pending_only_for_the_author(room: str) -> None:
    """Another name cannot cancel; a cancelled message is never delivered."""
    item = await schedule(room, "maybe", now_ms() + 300)
    with pytest.raises(ServiceError) as info:
        await scheduled_services.scheduled_message_cancel(
            room=room, holder="bob", scheduled_id=item
        )
    assert info.value.code == "not_found"
    await scheduled_services.scheduled_message_cancel(room=room, holder="alice", scheduled_id=item)
    assert await selectors.scheduled_pending(room=room, holder="alice") == []
    await asyncio.sleep(0.4)
    assert await drain() == 0
    with pytest.raises(ServiceError) as info:
        await scheduled_services.scheduled_message_cancel(
            room=room, holder="alice", scheduled_id=item
        )
    assert info.value.code == "not_found"


async def test_cancel_is_too_late_once_claimed(room: str) -> None:
    """A claimed message is being delivered: cancelling it fails with too_late."""
    item = await schedule(room, "going")
    claim = await scheduler.claim(lease_ms=30_000, owner="t")
    assert isinstance(claim, scheduler.Claim)
    with pytest.raises(ServiceError) as info:
        await scheduled_services.scheduled_message_cancel(
            room=room, holder="alice", scheduled_id=item
        )
    assert info.value.code == "too_late"


async def test_a_claim_whose_claimer_died_is_reclaimed_with_the_same_seq(room: str) -> None:
    """After the lease runs out another scheduler takes it, keeping the seq it was given."""
    await schedule(room, "orphaned")
    first = await scheduler.claim(lease_ms=100, owner="dies")
    assert isinstance(first, scheduler.Claim)
    assert isinstance(await scheduler.claim(lease_ms=100, owner="other"), scheduler.Idle)
    await asyncio.sleep(0.15)
    second = await scheduler.claim(lease_ms=30_000, owner="other")
    assert isinstance(second, scheduler.Claim)
    assert (second.id, second.seq, second.attempts) == (first.id, first.seq, 2)


async def test_a_second_delivery_after_a_crash_stores_no_second_copy(room: str) -> None:
    """Stored but not finished (crash), then reclaimed: the store refuses the copy."""
    await schedule(room, "exactly once")
    first = await scheduler.claim(lease_ms=100, owner="dies")
    assert isinstance(first, scheduler.Claim)
    stored = MessageOut(
        id=message_id(room, first.seq),
        seq=first.seq,
        room=room,
        author=first.author,
        text=first.text,
        ts=datetime.now(UTC).replace(microsecond=0),
    )
    await store.insert_message(stored, client_id=scheduling.store_client_id(first.id))
    await asyncio.sleep(0.15)
    second = await scheduler.claim(lease_ms=30_000, owner="other")
    assert isinstance(second, scheduler.Claim)
    message = await scheduled_services.scheduled_message_deliver(claim=second)
    assert message == stored
    assert await store.count_messages(room=room) == 1
    assert await drain() == 0
    assert await selectors.scheduled_pending(room=room, holder="alice") == []


async def test_a_failed_delivery_is_retried_after_a_short_delay(room: str) -> None:
    """release() puts the claim back for a retry sooner than the lease."""
    await schedule(room, "retry me")
    claim = await scheduler.claim(lease_ms=30_000, owner="t")
    assert isinstance(claim, scheduler.Claim)
    await scheduler.release(claim.id, retry_ms=100)
    idle = await scheduler.claim(lease_ms=30_000, owner="t")
    assert isinstance(idle, scheduler.Idle)
    assert idle.next_ms is not None and idle.next_ms - idle.now_ms <= 100
    await asyncio.sleep(0.15)
    again = await scheduler.claim(lease_ms=30_000, owner="t")
    assert isinstance(again, scheduler.Claim)
    assert again.seq == claim.seq


@single_server_only
async def test_a_lost_seq_counter_is_reseeded_above_the_store_and_claimed_seqs(
    room: str,
) -> None:
    """Redis lost the counter: seqs continue above every stored and every claimed one."""
    for text in ("one", "two", "three"):
        await services.message_create(room=room, author="bob", text=text)
    await schedule(room, "claimed first")
    held = await scheduler.claim(lease_ms=30_000, owner="slow")
    assert isinstance(held, scheduler.Claim)
    assert held.seq == 4
    await schedule(room, "claimed next")
    await redis().delete(sequencing.counter_key(room))
    claim = await scheduler.claim(lease_ms=30_000, owner="t")
    assert isinstance(claim, scheduler.Claim)
    assert claim.seq == 5


async def test_an_idle_loop_wakes_early_for_a_message_scheduled_sooner(room: str) -> None:
    """A loop asleep until a far-off message delivers a new 'now' message at once."""
    await schedule(room, "far", now_ms() + 3_600_000)
    stop = asyncio.Event()
    with override_settings(CHAT_SCHEDULER_MAX_SLEEP_S=30.0):
        loop = asyncio.create_task(run_scheduler(stop, owner="sleeper"))
        try:
            await asyncio.sleep(0.5)  # asleep now, until the hour or the cap
            started = time.monotonic()
            await schedule(room, "urgent")
            while await store.count_messages(room=room) == 0:
                assert time.monotonic() - started < 3, "the loop did not wake up"
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await asyncio.wait_for(loop, 10)


@pytest.mark.django_db(transaction=True)
async def test_the_rest_api_schedules_lists_and_cancels(room: str) -> None:
    """POST, GET and DELETE on /api/rooms/<room>/scheduled; errors are JSON with a code."""
    from django.test import AsyncClient

    client = AsyncClient()
    url = f"/api/rooms/{room}/scheduled"
    created = await client.post(
        url,
        {"text": "via REST", "deliver_at": now_ms() + 60_000, "author": "alice"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["room"] == room and body["text"] == "via REST" and body["id"]
    listed = await client.get(url, {"author": "alice"})
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]
    bad = await client.post(
        url,
        {"text": "x", "deliver_at": "2026-01-01T10:00", "author": "a"},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_deliver_at" and bad.json()["field"] == "deliver_at"
    wrong = await client.delete(f"{url}/{body['id']}?author=bob")
    assert wrong.status_code == 404 and wrong.json()["code"] == "not_found"
    gone = await client.delete(f"{url}/{body['id']}?author=alice")
    assert gone.status_code == 204
    assert (await client.get(url, {"author": "alice"})).json()["items"] == []
    schema = await client.get("/api/openapi.json")
    assert "/api/rooms/{room}/scheduled" in schema.json()["paths"]
    assert (await client.get("/api/docs")).status_code == 200


@contextmanager
def runschedulers(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `manage.py runscheduler` processes; stop them (SIGTERM, then SIGKILL) after."""
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler"],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


@single_server_only
async def test_six_schedulers_deliver_a_thousand_messages_exactly_once_in_order() -> None:
    """4 asyncio loops and 2 runscheduler processes share 1,000 messages due within a second:
    each is stored exactly once, and in every room seq order is due order (ties: id)."""
    rooms = [f"t-sched-{i}-{os.getpid()}-{now_ms()}" for i in range(4)]
    count = 1000
    stop = asyncio.Event()
    with runschedulers(2) as processes:
        # The processes announce themselves once Django is loaded; then they are claiming.
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
            assert b"runscheduler" in line
        base = now_ms() + 1_500
        scheduled: dict[str, tuple[str, int]] = {}
        for n in range(count):
            room = rooms[n % len(rooms)]
            # Groups of 8 share a due time, so ties are common, and the order is shuffled.
            due = base + ((n * 7919) % count) // 8 * 8
            item = await scheduled_services.scheduled_message_create(
                room=room,
                sender=Identity(name=f"a{n % 3}", account=None),
                text=f"m{n}",
                deliver_at=due,
            )
            scheduled[item.id] = (room, item.due_ms)
        assert now_ms() < base, "scheduling took so long that the test proves little"
        loops = [asyncio.create_task(run_scheduler(stop, owner=f"loop-{i}")) for i in range(4)]
        try:
            deadline = time.monotonic() + WAIT_S
            coll = mongo_db()[store.MESSAGES]
            while await coll.count_documents({"room": {"$in": rooms}}) < count:
                assert time.monotonic() < deadline, "not all messages were delivered in time"
                await asyncio.sleep(0.2)
            # Anything still in flight would show up as an extra copy now.
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*loops), 15)
        assert all(process.poll() is None for process in processes)
    docs = await coll.find({"room": {"$in": rooms}}).to_list(None)
    copies = Counter(doc["client_id"] for doc in docs)
    assert len(docs) == count
    assert set(copies) == {scheduling.store_client_id(i) for i in scheduled}
    assert max(copies.values()) == 1
    seq_of = {doc["client_id"].removeprefix("sched:"): doc["seq"] for doc in docs}
    for room in rooms:
        ids = [i for i, (r, _) in scheduled.items() if r == room]
        by_due = sorted(ids, key=lambda i: (scheduled[i][1], int(i)))
        assert [seq_of[i] for i in by_due] == sorted(seq_of[i] for i in ids)
    for doc in docs:
        due = scheduled[doc["client_id"].removeprefix("sched:")][1]
        assert scheduling.to_ms(doc["ts"]) >= due, "delivered before it was due"
    owners = Counter()
    async with redis().pipeline(transaction=False) as pipe:
        for scheduled_id in scheduled:
            pipe.hget(scheduler.MSG_PREFIX + scheduling.member_of(scheduled_id), "owner")
        owners.update(await pipe.execute())
    # Every kind of scheduler took part: both processes and the in-process loops.
    assert len([o for o in owners if o.startswith("sched-")]) == 2, owners
    assert any(o.startswith("loop-") for o in owners), owners
    for room in rooms:
        await coll.delete_many({"room": room})
