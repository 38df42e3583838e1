"""The history tail in real Redis (chat.messages.historytail): joins read the newest page there."""

from __future__ import annotations

import asyncio

from chat.infra.clients import mongo_db, redis
from chat.messages import historytail, seeding, selectors, services, store
from chat.protocol import HistoryIn

WAIT_S = 10.0


async def send(room: str, count: int) -> None:
    for i in range(count):
        await services.message_create(room=room, author="ann", text=f"m{i}")


async def tail_top(room: str) -> int:
    entries = await historytail.read(room)
    return int(entries[0][1]) if entries else 0


async def until_tail_reaches(room: str, seq: int) -> None:
    """The broadcast that extends the tail runs just after the sender's write returns."""
    async with asyncio.timeout(WAIT_S):
        while await tail_top(room) < seq:
            await asyncio.sleep(0.02)


async def test_a_join_reads_the_newest_page_from_the_tail_once_filled(room: str) -> None:
    await send(room, 5)
    await until_tail_reaches(room, 5)
    # Behind the store's back, so only the tail can still answer with them.
    await mongo_db()[store.MESSAGES].delete_many({"room": room})
    page = await selectors.newest_page(room, limit=3)
    assert [m.seq for m in page.messages] == [3, 4, 5] and page.has_more
    assert [m.text for m in page.messages] == ["m2", "m3", "m4"]


async def test_a_cold_tail_is_filled_from_the_store_holes_and_start_included(room: str) -> None:
    await send(room, 6)
    await until_tail_reaches(room, 6)  # no broadcast may extend the tail after the delete
    await store.delete_messages(ids=[(await selectors.history_page(room=room)).messages[1].id])
    assert await historytail.read(room) == []  # the delete dropped the tail
    first = await selectors.newest_page(room, limit=50)
    assert [m.seq for m in first.messages] == [1, 3, 4, 5, 6] and not first.has_more
    await mongo_db()[store.MESSAGES].delete_many({"room": room})
    again = await selectors.newest_page(room, limit=50)  # from the tail the first read filled
    assert again == first


async def test_a_message_missing_from_the_tail_makes_the_join_read_the_store(room: str) -> None:
    await send(room, 4)
    await until_tail_reaches(room, 4)
    entries = await historytail.read(room)
    await redis().zrem("chat:tail:" + room, next(m for m, s in entries if int(s) == 2))
    page = await selectors.newest_page(room, limit=50)
    assert [m.seq for m in page.messages] == [1, 2, 3, 4]
    assert {int(s) for _, s in await historytail.read(room)} >= {1, 2, 3, 4}  # mended


async def test_a_fill_that_read_the_store_before_a_forget_is_dropped(room: str) -> None:
    expected = await historytail.generation(room)
    await historytail.forget([room])
    assert not await historytail.add(room, [(1, "~1")], expected=expected)
    assert await historytail.read(room) == []
    assert await historytail.add(room, [(1, "~1")], expected=await historytail.generation(room))


async def test_seeding_drops_the_tail_so_joins_see_the_seeded_messages(room: str) -> None:
    await send(room, 2)
    await until_tail_reaches(room, 2)
    await seeding.seed_room(room=room, count=10, batch_size=4)
    page = await selectors.newest_page(room, limit=50)
    assert [m.seq for m in page.messages] == list(range(1, 13))


async def test_a_tail_keeps_only_its_newest_entries(room: str) -> None:
    await send(room, historytail.size() + 5)
    await until_tail_reaches(room, historytail.size() + 5)
    assert len(await historytail.read(room)) == historytail.size()
    page = await selectors.newest_page(room, limit=10)
    top = historytail.size() + 5
    assert [m.seq for m in page.messages] == list(range(top - 9, top + 1)) and page.has_more


async def test_reads_take_only_the_entries_an_answer_needs(room: str) -> None:
    """A page's worth of entries, or the whole tail when holes crowd its top; a gap fill
    from the top answers "nothing newer" from the tail."""
    await send(room, 3)
    await until_tail_reaches(room, 3)
    await historytail.add(room, historytail.holes(list(range(4, 40))))  # seqs a failed group took
    await mongo_db()[store.MESSAGES].delete_many({"room": room})  # only the tail can answer
    page = await selectors.newest_page(room, limit=2)
    assert ([m.seq for m in page.messages], page.has_more) == ([2, 3], True)
    newest = await historytail.read(room, newest=4)
    assert [int(score) for _, score in newest] == [39, 38, 37, 36]
    assert [int(score) for _, score in await historytail.read(room, above=37)] == [39, 38]
    caught_up = await selectors.history_for(
        room=room, request=HistoryIn(type="history", after_seq=39)
    )
    assert (caught_up.messages, caught_up.has_more) == ([], False)
    gap = await selectors.history_for(room=room, request=HistoryIn(type="history", after_seq=1))
    assert [m.seq for m in gap.messages] == [2, 3]
