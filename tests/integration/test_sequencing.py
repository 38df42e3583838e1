"""Per-room sequence numbers against real Redis and the real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from chat.infra.clients import redis
from chat.messages import sequencing, services, store
from chat.messages.documents import message_id
from chat.protocol import MessageOut


async def test_a_new_room_starts_at_one(room: str) -> None:
    """The first message of a room gets seq 1."""
    assert await sequencing.next_seq(room) == 1
    assert await sequencing.next_seq(room) == 2


async def test_concurrent_allocations_are_unique_and_gap_free(room: str) -> None:
    """INCR is atomic: 200 concurrent callers get 1..200 exactly once."""
    seqs = await asyncio.gather(*(sequencing.next_seq(room) for _ in range(200)))
    assert sorted(seqs) == list(range(1, 201))


async def test_deleted_counter_is_reseeded_from_the_store(room: str) -> None:
    """After Redis loses the counter, numbering continues above the highest stored seq."""
    for text in ("one", "two", "three"):
        await services.message_create(room=room, author="alice", text=text)
    await redis().delete(sequencing.counter_key(room))
    message = await services.message_create(room=room, author="alice", text="four")
    assert message.seq == 4


async def test_counter_behind_the_store_catches_up_instead_of_reusing(room: str) -> None:
    """A counter restored from an old snapshot must not hand out stored seqs again."""
    for seq in range(1, 6):
        ts = datetime.now(UTC)
        await store.insert_message(
            MessageOut(id=message_id(room, seq), seq=seq, room=room, author="a", text="x", ts=ts)
        )
    await redis().set(sequencing.counter_key(room), 2)
    message = await services.message_create(room=room, author="alice", text="next")
    assert message.seq == 6
    assert await store.count_messages(room=room) == 6


async def test_concurrent_reseeding_never_duplicates(room: str) -> None:
    """Many first messages racing to seed a missing counter all get distinct seqs."""
    await services.message_create(room=room, author="a", text="seed")
    await redis().delete(sequencing.counter_key(room))
    messages = await asyncio.gather(
        *(services.message_create(room=room, author="a", text=str(i)) for i in range(30))
    )
    assert sorted(m.seq for m in messages) == list(range(2, 32))


async def test_seqs_of_deleted_messages_are_not_reused_after_the_counter_is_lost(
    room: str,
) -> None:
    """Purging the newest messages, then losing Redis, must not hand their seqs out again."""
    created = [await services.message_create(room=room, author="a", text=str(i)) for i in range(5)]
    assert await store.delete_messages(ids=[m.id for m in created[2:]]) == 3
    await redis().delete(sequencing.counter_key(room))
    message = await services.message_create(room=room, author="a", text="after purge")
    assert message.seq == 6


async def test_reserved_blocks_are_consecutive_and_do_not_overlap(room: str) -> None:
    """Bulk seeding takes a block; live messages continue after it."""
    first = await sequencing.reserve_seqs(room, 100)
    assert first == 1
    assert await sequencing.reserve_seqs(room, 10) == 101
    assert await sequencing.next_seq(room) == 111
