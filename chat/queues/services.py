"""The integrator queue API's state changes and reads: keyword-only, typed, one per action.

Queues are shared by every account; producers get an id per message, receivers get each
message alone until its visibility ends, and acknowledge it with the receipt they got.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from chat.errors import ServiceError
from chat.queues import figures, registry, rules, streams
from chat.queues.registry import QueueConfig


@dataclass(frozen=True)
class QueueView:
    """A queue's settings and figures."""

    config: QueueConfig
    counts: figures.Counts


@dataclass(frozen=True)
class Message:
    """A received message, its body decoded."""

    id: str
    body: Any
    receipt: str
    receives: int
    enqueued_ms: int


def consumer_name() -> str:
    """This process's consumer in every queue's group (bookkeeping only: receipts decide)."""
    return f"api-{socket.gethostname()}-{os.getpid()}"


def _checked_name(name: str) -> str:
    if not rules.valid_name(name):
        raise ServiceError(
            "invalid_queue", "a queue name is 1-64 of letters, digits, '.', '_', '-'"
        )
    return name


async def _config(name: str) -> QueueConfig:
    config = await registry.get(_checked_name(name))
    if config is None:
        raise ServiceError("not_found", f"no queue {name}")
    return config


async def queue_put(
    *,
    name: str,
    visibility_s: int,
    max_receives: int,
    room: str | None = None,
    room_seq: int | None = None,
) -> tuple[QueueView, bool]:
    """Create or update a queue; binding it to a room starts after `room_seq` (the room's
    seq at binding: chat.messages.roomqueues passes it). Returns it and whether it is new."""
    _checked_name(name)
    before = await registry.get(name)
    rebinding = bool(room) and (before is None or before.room != room)
    config, created = await registry.put(
        name=name,
        visibility_s=visibility_s,
        max_receives=max_receives,
        room=room,
        fed_seq=(room_seq or 0) if rebinding else None,
    )
    return QueueView(config, await figures.counts(registry.keys_of(name))), created


async def queue_get(*, name: str) -> QueueView:
    """One queue and its figures; not_found if there is none."""
    config = await _config(name)
    return QueueView(config, await figures.counts(registry.keys_of(name)))


async def queue_list() -> list[QueueView]:
    """Every queue and its figures, by name."""
    views = []
    for name in await registry.names():
        config = await registry.get(name)
        if config is not None:
            views.append(QueueView(config, await figures.counts(registry.keys_of(name))))
    return views


async def queue_delete(*, name: str) -> None:
    """Delete a queue and its messages; not_found if there was none."""
    if not await registry.delete(_checked_name(name)):
        raise ServiceError("not_found", f"no queue {name}")


async def message_send(
    *, queue: str, body: Any, delay_s: int = 0, client_id: str | None = None
) -> tuple[str, bool]:
    """Enqueue one message; return its id and False when `client_id` was sent before."""
    text = rules.encode_body(body)
    _checked_name(queue)
    produced = await streams.produce(
        registry.keys_of(queue),
        streams.Outgoing(body=text, delay_ms=delay_s * 1000, client_id=client_id),
        meta_key=registry.meta_key(queue),
    )
    if produced is None:
        raise ServiceError("not_found", f"no queue {queue}")
    return produced


async def messages_send(*, queue: str, messages: list[tuple[Any, int, str | None]]) -> list[str]:
    """Enqueue each (body, delay_s, client_id) in order; their ids (a resend's is its first)."""
    items = [
        streams.Outgoing(body=rules.encode_body(body), delay_ms=delay_s * 1000, client_id=cid)
        for body, delay_s, cid in messages
    ]
    _checked_name(queue)
    produced = await streams.produce_many(
        registry.keys_of(queue), items, meta_key=registry.meta_key(queue)
    )
    if any(outcome is None for outcome in produced):
        raise ServiceError("not_found", f"no queue {queue}")
    return [outcome[0] for outcome in produced if outcome is not None]


async def messages_ack(*, queue: str, pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Acknowledge each (id, receipt): the ids by outcome, acked, stale or unknown."""
    await _config(queue)
    outcomes = await streams.ack_many(registry.keys_of(queue), pairs)
    split: dict[str, list[str]] = {streams.ACKED: [], streams.STALE: [], streams.UNKNOWN: []}
    for (message_id, _receipt), outcome in zip(pairs, outcomes, strict=True):
        split[outcome].append(message_id)
    return split


async def messages_receive(
    *, queue: str, max_messages: int, visibility_s: int | None = None, wait_s: int = 0
) -> list[Message]:
    """Up to `max_messages` messages no other receiver holds, waiting up to `wait_s`."""
    config = await _config(queue)
    got = await streams.receive_waiting(
        registry.keys_of(queue),
        consumer=consumer_name(),
        count=max_messages,
        visibility_ms=(visibility_s or config.visibility_s) * 1000,
        max_receives=config.max_receives,
        wait_ms=wait_s * 1000,
    )
    return [
        Message(
            id=d.id,
            body=rules.decode_body(d.body),
            receipt=d.receipt,
            receives=d.receives,
            enqueued_ms=d.enqueued_ms,
        )
        for d in got
    ]


def _settled(outcome: str, *, queue: str, message_id: str) -> None:
    if outcome == streams.UNKNOWN:
        raise ServiceError("not_found", f"no message {message_id} in queue {queue}")
    if outcome == streams.STALE:
        raise ServiceError(
            "stale_receipt",
            "this receipt is no longer valid: the message was received again after its "
            "visibility ended",
        )


async def message_ack(*, queue: str, message_id: str, receipt: str) -> None:
    """Delete a received message; stale_receipt if someone received it since."""
    await _config(queue)
    outcome = await streams.ack(registry.keys_of(queue), message_id=message_id, receipt=receipt)
    _settled(outcome, queue=queue, message_id=message_id)


async def message_extend(
    *, queue: str, message_id: str, receipt: str, visibility_s: int | None = None
) -> int:
    """Keep a received message invisible for `visibility_s` more (the queue's by default)."""
    config = await _config(queue)
    seconds = visibility_s or config.visibility_s
    outcome = await streams.extend(
        registry.keys_of(queue),
        message_id=message_id,
        receipt=receipt,
        visibility_ms=seconds * 1000,
    )
    _settled(outcome, queue=queue, message_id=message_id)
    return seconds


async def dead_list(*, queue: str, limit: int = 100) -> list[figures.DeadLetter]:
    """The queue's oldest dead letters."""
    await _config(queue)
    return await figures.dead_letters(registry.keys_of(queue), count=limit)


async def dead_redrive(*, queue: str, limit: int = 1000) -> int:
    """Put up to `limit` dead letters back in the queue, receives reset; return how many."""
    await _config(queue)
    return await figures.redrive(registry.keys_of(queue), count=limit)
