"""The integrator queues against real Redis: exclusivity, receipts, visibility, dead letters."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from chat.errors import ServiceError
from chat.queues import registry, rules, services

WAIT_S = 20.0


@pytest.fixture
async def queue() -> AsyncIterator[str]:
    """A queue of this test's own (visibility 1 s, 3 receives), deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await services.queue_put(name=name, visibility_s=1, max_receives=3)
    yield name
    await registry.delete(name)


async def receive_one(queue: str, **options: int) -> services.Message:
    """The next message to come, within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = await services.messages_receive(queue=queue, max_messages=1, wait_s=1, **options)
        if got:
            return got[0]
    raise AssertionError(f"nothing arrived in {queue} within {WAIT_S}s")


async def test_eight_concurrent_receivers_each_get_different_messages(queue: str) -> None:
    """200 messages, 8 receivers at once: every message is received once and acked once."""
    await services.queue_put(name=queue, visibility_s=60, max_receives=3)
    sent = [(await services.message_send(queue=queue, body={"n": i}))[0] for i in range(200)]
    seen: list[str] = []
    acked: list[str] = []

    async def receiver() -> None:
        while len(acked) < len(sent):
            got = await services.messages_receive(queue=queue, max_messages=7)
            if not got:
                await asyncio.sleep(0.01)
                continue
            for message in got:
                seen.append(message.id)
                await services.message_ack(
                    queue=queue, message_id=message.id, receipt=message.receipt
                )
                acked.append(message.id)

    await asyncio.wait_for(asyncio.gather(*(receiver() for _ in range(8))), WAIT_S)
    assert Counter(seen) == Counter(sent)
    assert sorted(acked) == sorted(sent)
    view = await services.queue_get(name=queue)
    assert (view.counts.ready, view.counts.in_flight, view.counts.dead) == (0, 0, 0)


async def test_an_acked_message_is_gone_and_a_second_ack_is_not_found(queue: str) -> None:
    message_id, created = await services.message_send(queue=queue, body=["a", 1, None])
    assert created
    got = await receive_one(queue)
    assert (got.id, got.body, got.receives) == (message_id, ["a", 1, None], 1)
    await services.message_ack(queue=queue, message_id=got.id, receipt=got.receipt)
    with pytest.raises(ServiceError) as again:
        await services.message_ack(queue=queue, message_id=got.id, receipt=got.receipt)
    assert again.value.code == "not_found"
    view = await services.queue_get(name=queue)
    assert (view.counts.ready, view.counts.in_flight) == (0, 0)


async def test_an_unacked_message_comes_back_and_the_first_receipt_is_stale(queue: str) -> None:
    """After its visibility it is received again (receives 2); the old receipt deletes
    nothing, the new one acks it."""
    await services.message_send(queue=queue, body="job")
    first = await receive_one(queue)
    second = await receive_one(queue)
    assert second.id == first.id and second.receives == 2
    assert second.receipt != first.receipt
    with pytest.raises(ServiceError) as stale:
        await services.message_ack(queue=queue, message_id=first.id, receipt=first.receipt)
    assert stale.value.code == "stale_receipt"
    with pytest.raises(ServiceError):
        await services.message_extend(queue=queue, message_id=first.id, receipt=first.receipt)
    assert (await services.queue_get(name=queue)).counts.in_flight == 1
    await services.message_ack(queue=queue, message_id=second.id, receipt=second.receipt)


async def test_a_message_received_max_receives_times_goes_to_the_dead_letters(queue: str) -> None:
    """Three receives without an ack, then the dead letters; a redrive brings it back."""
    message_id, _ = await services.message_send(queue=queue, body={"poison": True})
    for expected in (1, 2, 3):
        assert (await receive_one(queue)).receives == expected

    async def dead() -> list[str]:
        await services.messages_receive(queue=queue, max_messages=1)
        return [d.id for d in await services.dead_list(queue=queue)]

    deadline = time.monotonic() + WAIT_S
    while not await dead():
        assert time.monotonic() < deadline, "the message never reached the dead letters"
        await asyncio.sleep(0.05)
    letters = await services.dead_list(queue=queue)
    assert [(d.id, d.receives, d.why) for d in letters] == [(message_id, 3, "max_receives")]
    assert rules.decode_body(letters[0].body) == {"poison": True}
    assert await services.dead_redrive(queue=queue) == 1
    back = await receive_one(queue)
    assert (back.id, back.receives) == (message_id, 1)
    assert (await services.queue_get(name=queue)).counts.dead == 0


async def test_a_delayed_message_is_ready_only_after_its_delay(queue: str) -> None:
    await services.message_send(queue=queue, body="later", delay_s=1)
    sent_at = time.monotonic()
    assert await services.messages_receive(queue=queue, max_messages=1) == []
    assert (await services.queue_get(name=queue)).counts.delayed == 1
    got = await receive_one(queue)
    assert got.body == "later"
    assert time.monotonic() - sent_at >= 0.9


async def test_a_resend_with_the_same_client_id_gets_the_same_id_and_enqueues_nothing(
    queue: str,
) -> None:
    first = await services.message_send(queue=queue, body=1, client_id="order-17")
    again = await services.message_send(queue=queue, body=1, client_id="order-17")
    other = await services.message_send(queue=queue, body=1, client_id="order-18")
    assert again == (first[0], False)
    assert other[0] != first[0]
    assert (await services.queue_get(name=queue)).counts.ready == 2


async def test_a_long_poll_returns_as_soon_as_a_message_is_sent(queue: str) -> None:
    waiting = asyncio.ensure_future(
        services.messages_receive(queue=queue, max_messages=5, wait_s=10)
    )
    await asyncio.sleep(0.2)  # the receive has polled at least once and is waiting
    await services.message_send(queue=queue, body="wake")
    got = await asyncio.wait_for(waiting, 5)
    assert [m.body for m in got] == ["wake"]


async def test_extend_keeps_the_receipt_valid_and_the_message_in_flight(queue: str) -> None:
    await services.message_send(queue=queue, body="slow")
    got = await receive_one(queue)
    for _ in range(3):
        await asyncio.sleep(0.5)
        await services.message_extend(
            queue=queue, message_id=got.id, receipt=got.receipt, visibility_s=1
        )
    # 1.5 s after a 1 s visibility: still this receiver's, so its ack counts.
    await services.message_ack(queue=queue, message_id=got.id, receipt=got.receipt)


async def test_bad_input_is_refused_with_a_code() -> None:
    with pytest.raises(ServiceError) as unknown:
        await services.message_send(queue=f"none-{uuid.uuid4().hex[:6]}", body=1)
    assert unknown.value.code == "not_found"
    with pytest.raises(ServiceError) as big:
        rules.encode_body("x" * rules.MAX_BODY_BYTES)
    assert big.value.code == "body_too_large"
    with pytest.raises(ServiceError) as nan:
        rules.encode_body(float("nan"))
    assert nan.value.code == "invalid_body"
    with pytest.raises(ServiceError) as name:
        await services.queue_get(name="{bad}")
    assert name.value.code == "invalid_queue"


async def test_listing_shows_every_queue_with_counts(queue: str) -> None:
    await services.message_send(queue=queue, body=1)
    await services.message_send(queue=queue, body=2, delay_s=60)
    await receive_one(queue)
    await services.message_send(queue=queue, body=3)
    views = {v.config.name: v for v in await services.queue_list()}
    counts = views[queue].counts
    assert (counts.ready, counts.in_flight, counts.delayed, counts.dead) == (1, 1, 1, 0)
    assert counts.oldest_age_s is not None and counts.oldest_age_s >= 0
