"""State changes. Each stores first, then broadcasts through chat.broadcast.events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError
from redis.exceptions import RedisError

from chat.broadcast import events
from chat.errors import ServiceError
from chat.messages import historytail, roomqueues, sequencing, store, writebatch
from chat.messages.documents import message_id
from chat.ops import metrics
from chat.protocol import MessageOut, is_unicode

log = logging.getLogger(__name__)

# A seq already taken means the counter fell behind the store (Redis lost it); a few
# re-seeds always catch up, more would mean something else is wrong.
_MAX_SEQ_ATTEMPTS = 5


def now() -> datetime:
    # MongoDB keeps milliseconds; truncate so live and replayed messages carry the same ts.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class _Draft:
    """A message waiting for its group's seqs and insert."""

    author: str
    text: str
    client_id: str | None
    account: str | None


async def message_create(
    *,
    room: str,
    author: str,
    text: str,
    client_id: str | None = None,
    account: str | None = None,
) -> MessageOut:
    """Store a message with the room's next seq, then fan it out; return it for the ack.

    Concurrent messages of a room are stored and broadcast together (see _store_group);
    this returns once this one is stored. A resend of a stored `client_id` stores nothing
    and returns the original message, broadcast again in case its first broadcast was lost
    (receivers drop it by seq).
    """
    if not all(is_unicode(field) for field in (text, author, client_id or "")):
        # Checked before the group: one unstorable message must not fail the others in it.
        raise ServiceError("invalid_field", "text, author and client_id must be valid Unicode")
    try:
        return await asyncio.wait_for(
            _message_groups.submit(
                room, _Draft(author=author, text=text, client_id=client_id, account=account)
            ),
            timeout=settings.CHAT_STORE_TIMEOUT_S,
        )
    except (TimeoutError, PyMongoError, RedisError) as exc:
        log.warning("message not stored in room %s: %s", room, type(exc).__name__)
        raise ServiceError("not_stored", "the message could not be stored; try again") from None


async def _store_group(room: str, drafts: list[_Draft]) -> list[MessageOut | Exception]:
    """Store messages that arrived together, within the store timeout.

    Bounded like each sender's wait: a store that hangs must not hold the room's next group.
    A group that times out goes on in the background for a while: whatever it stores is
    still broadcast, so the room's newest messages reach its members (the senders were told
    not_stored, and their resends find these by client_id).
    """
    timeout = settings.CHAT_STORE_TIMEOUT_S
    storing = asyncio.ensure_future(
        asyncio.wait_for(_store_drafts(room, drafts), timeout * _LATE_STORE_FACTOR)
    )
    try:
        return await asyncio.wait_for(asyncio.shield(storing), timeout)
    except TimeoutError:
        _late_groups.add(storing)
        storing.add_done_callback(partial(_broadcast_late, room))
        raise


# How much longer than the store timeout a timed-out group may still store and broadcast.
_LATE_STORE_FACTOR = 6
# Timed-out groups still storing (held so they are not collected before they finish).
_late_groups: set[asyncio.Future[Any]] = set()


def _broadcast_late(room: str, storing: asyncio.Future[list[MessageOut | Exception]]) -> None:
    """A timed-out group finished: broadcast what it stored."""
    _late_groups.discard(storing)
    if storing.cancelled() or storing.exception() is not None:
        log.warning("a timed-out group of room %s stored nothing: %r", room, storing)
        return
    results = storing.result()
    log.info("a timed-out group of room %s finished; broadcasting what it stored", room)
    late = asyncio.ensure_future(_broadcast_group(room, results))
    _late_groups.add(late)
    late.add_done_callback(_late_groups.discard)


async def _store_drafts(room: str, drafts: list[_Draft]) -> list[MessageOut | Exception]:
    """One seq block and one unordered insert for messages that arrived together.

    Each message's duplicates are handled as a lone insert's would be: a stored client_id
    yields the original, a taken seq is retried alone with the re-seeded counter.
    """
    first = await sequencing.next_seqs(room, len(drafts))
    ts = now()
    messages = [
        MessageOut(
            id=message_id(room, first + i),
            seq=first + i,
            room=room,
            author=d.author,
            account=d.account,
            text=d.text,
            ts=ts,
        )
        for i, d in enumerate(drafts)
    ]
    try:
        outcomes = await store.insert_messages(
            [(message, draft.client_id) for message, draft in zip(messages, drafts, strict=True)]
        )
    except ServerSelectionTimeoutError:
        # No server was reached, so nothing was written: the whole block stays unused.
        await _unused(room, [message.seq for message in messages])
        raise
    results: list[MessageOut | Exception] = []
    unused: list[int] = []
    for draft, message, outcome in zip(drafts, messages, outcomes, strict=True):
        if outcome is None:
            metrics.MESSAGES_STORED.inc()
            results.append(message)
        elif isinstance(outcome, store.DuplicateSeq):
            results.append(await _store_alone(room, draft))
        else:
            unused.append(message.seq)
            is_resend = isinstance(outcome, store.DuplicateClientId)
            results.append(outcome.original if is_resend else outcome)
    await _unused(room, unused)
    return results


async def _unused(room: str, seqs: list[int]) -> None:
    """Mark seqs a group took but stored nothing under as holes in the room's history tail.

    Seqs are never reused, so a hole is final; without it the tail's run of seqs breaks at
    every resend, and each resume and gap fill after a restart would read the store.
    """
    if seqs:
        with contextlib.suppress(RedisError):
            await historytail.add(room, historytail.holes(seqs))
        with contextlib.suppress(RedisError):
            await roomqueues.mark_unused(room, seqs)


async def _broadcast_group(room: str, results: Sequence[MessageOut | BaseException]) -> None:
    """Publish what a group stored, in seq order, once the senders have their outcomes.

    After them, so each sender's ack tends to precede its own broadcast, as before grouping.
    """
    stored = {r.seq: r for r in results if isinstance(r, MessageOut)}
    if stored:
        roomqueues.stored(room)
        await broadcast([stored[seq] for seq in sorted(stored)])


async def _store_alone(room: str, draft: _Draft) -> MessageOut | Exception:
    """Retry one message of a group whose seq was taken (the counter fell behind the store)."""
    try:
        return await store_with_seq(
            room=room,
            author=draft.author,
            text=draft.text,
            client_id=draft.client_id,
            seq=await sequencing.reseed_and_next(room),
            account=draft.account,
        )
    except (ServiceError, PyMongoError, RedisError) as exc:
        return exc


_message_groups: writebatch.WriteGroups[str, _Draft, MessageOut] = writebatch.WriteGroups(
    _store_group, then=_broadcast_group
)


async def broadcast(messages: list[MessageOut]) -> None:
    """Publish stored messages (chat.broadcast.events.publish_messages).

    First into the room's history tail, so a join that subscribed after this publish finds
    them there; one missing from the tail only makes joins read the store.
    """
    try:
        await historytail.add_messages(messages)
    except RedisError as exc:
        log.info("history tail of room %s not extended: %s", messages[0].room, exc)
    await events.publish_messages(messages)


async def typing_announce(*, room: str, name: str, sender: str) -> None:
    """Tell the room `name` is typing. Best effort: nothing is stored, a lost one is harmless."""
    try:
        await events.notify_typing(room=room, name=name, sender=sender)
    except RedisError as exc:
        log.info("typing in room %s not relayed: %s", room, exc)


async def store_with_seq(
    *,
    room: str,
    author: str,
    text: str,
    client_id: str | None,
    seq: int | None = None,
    account: str | None = None,
) -> MessageOut:
    # A scheduled message brings the seq its claim allocated; a live one takes the next.
    if seq is None:
        seq = await sequencing.next_seq(room)
    for _ in range(_MAX_SEQ_ATTEMPTS):
        message = MessageOut(
            id=message_id(room, seq),
            seq=seq,
            room=room,
            author=author,
            account=account,
            text=text,
            ts=now(),
        )
        try:
            await store.insert_message(message, client_id=client_id)
            metrics.MESSAGES_STORED.inc()
            return message
        except store.DuplicateClientId as duplicate:
            # The seq taken for this attempt stays unused: seqs may skip, never repeat.
            if duplicate.original.seq != seq:
                await _unused(room, [seq])
            return duplicate.original
        except store.DuplicateSeq:
            seq = await sequencing.reseed_and_next(room)
    raise ServiceError("not_stored", "no free sequence number; try again")
