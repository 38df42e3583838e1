"""The trigram search index against the real FerretDB: exact answers, concurrent writers,
late writes, purges and the index built for messages stored before it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from chat.infra.clients import mongo_db
from chat.messages import (
    migration,
    pages,
    searchindex,
    searching,
    seeding,
    sequencing,
    services,
    store,
)
from chat.messages.documents import MESSAGES, SEARCH_TOKENS, SEARCH_UNITS, to_doc
from chat.protocol import MessageOut


def make(room: str, seq: int, text: str) -> MessageOut:
    return MessageOut(
        id=f"{seq:024x}", seq=seq, room=room, author="a", text=text, ts=datetime.now(UTC)
    )


async def every_match(room: str, q: str, *, limit: int = 50, pages_at_most: int = 5) -> list[int]:
    """The seqs of every page of a search, following next_before_seq."""
    seqs: list[int] = []
    before: int | None = None
    for _ in range(pages_at_most):
        page = await searching.search(room, text=q, before_seq=before, limit=limit)
        seqs += [m.seq for m in page.messages]
        if not page.has_more:
            return seqs
        before = page.next_before_seq
    raise AssertionError(f"a search for {q!r} takes more than {pages_at_most} pages")


async def brute(room: str, q: str) -> list[int]:
    docs = await mongo_db()[MESSAGES].find({"room": room}, {"seq": 1, "text": 1}).to_list(None)
    return sorted((d["seq"] for d in docs if q.casefold() in d["text"].casefold()), reverse=True)


async def test_a_seeded_room_is_searched_from_the_index_beyond_the_walks_bound(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Needles among 9,000 seeded messages: every match, newest first, though a page may
    read only 50 messages (the walk alone would need dozens of pages)."""
    await seeding.seed_room(room=room, count=3000, batch_size=1000)
    await services.message_create(room=room, author="a", text="Price: $5.00 (NET)?")
    await seeding.seed_room(room=room, count=6000, batch_size=2500)
    await services.message_create(room=room, author="a", text="a Straße in price: $5.00 (net)?")
    await searchindex.settled()
    assert await searchindex.markers(room, [(1, 0), (1, 1), (0, 128)])
    monkeypatch.setattr(pages, "SEARCH_SCAN", 50)
    for q in ("price: $5.00 (net)?", "STRASSE", "no such word"):
        assert await every_match(room, q) == await brute(room, q), q
    deploys = await brute(room, "DEPLOY went")
    assert await every_match(room, "DEPLOY went", pages_at_most=len(deploys) // 50 + 2) == deploys
    assert await every_match(room, "ab", pages_at_most=200) == await brute(room, "ab")
    page = await searching.search(room, text="price: $5.00", before_seq=None, limit=1)
    assert (len(page.messages), page.has_more) == (1, True)


async def test_concurrent_writers_across_unit_ends_are_all_found(room: str) -> None:
    """Four writers at once through ten units, each sealing as its own process would
    (no write group or queue between them): nothing a search should find is missing."""

    async def writer(number: int) -> None:
        for i in range(60):
            first = await sequencing.next_seqs(room, 3)
            batch = [make(room, first + k, f"w{number} says hello {i}") for k in range(3)]
            outcomes = await store.insert_messages([(m, None) for m in batch])
            assert outcomes == [None] * 3
            await searchindex.after_store(room, [m.seq for m in batch])

    await asyncio.gather(*(writer(n) for n in range(4)))
    await searchindex.settled()
    assert await searchindex.markers(room, [(0, 10)])
    assert len(await every_match(room, "SAYS HELLO", pages_at_most=16)) == 720
    assert await every_match(room, "w3 says hello 7") == await brute(room, "w3 says hello 7")


async def test_a_message_stored_in_a_sealed_unit_is_found(room: str) -> None:
    """A late write (its seq handed out before the unit's seal) seals the unit again, also
    while other seals of it run."""
    for seq in range(1, 200):
        if seq != 10:
            await store.insert_message(make(room, seq, "hay"))
    await searchindex.settled()
    assert await searchindex.markers(room, [(0, 0)])
    late = asyncio.gather(*(store.insert_message(make(room, s, "late needle")) for s in (10,)))
    await asyncio.gather(late, searchindex.seal(room, 0, 0), searchindex.seal(room, 0, 0))
    await searchindex.settled()
    assert await every_match(room, "needle") == [10]


async def test_purged_messages_are_not_found_and_an_emptied_room_leaves_no_index(
    room: str,
) -> None:
    stored = [await services.message_create(room=room, author="a", text=f"n{i}") for i in range(70)]
    await searchindex.settled()
    await store.delete_messages(ids=[stored[5].id])
    assert stored[5].seq not in await every_match(room, "n5")
    await store.delete_messages(room=room)
    assert await every_match(room, "n1") == []
    for name in (SEARCH_TOKENS, SEARCH_UNITS):
        assert await mongo_db()[name].count_documents({"room": room}) == 0


async def test_messages_stored_before_the_index_get_it_with_progress(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build seals what is unsealed, resumes where it stopped, and search uses it."""
    docs = [to_doc(make(room, seq, "old needle" if seq == 3 else "hay")) for seq in range(1, 4300)]
    await mongo_db()[MESSAGES].insert_many(docs)
    await store.insert_message(make(room, 4300, "new"))  # the figures know the room
    await searchindex.settled()
    seen: list[tuple[str, int, int]] = []
    built = await migration.build_search_index(lambda *at: seen.append(at), rooms=[room])
    assert built == 4 and seen[-1] == (room, 4300, 4300)
    assert await migration.build_search_index(rooms=[room]) == 0
    monkeypatch.setattr(pages, "SEARCH_SCAN", 50)
    assert await every_match(room, "old needle") == [3]
