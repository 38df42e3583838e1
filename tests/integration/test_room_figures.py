"""Per-room figures kept as messages are stored and deleted, and the room list that reads them."""

from __future__ import annotations

from chat.infra.clients import mongo_db
from chat.messages import documents, seeding, selectors, services, store
from chat.presence import store as presence


async def figures(room: str) -> tuple[int, int] | None:
    """(messages, members) of the room in the listing, None when it is not listed."""
    for listing in await selectors.room_list(limit=1000):
        if listing.room == room:
            return listing.stats.messages if listing.stats else 0, listing.members
    return None


async def test_figures_follow_sends_bulk_inserts_and_deletes(room: str) -> None:
    """Counts and the newest seq stay right through live sends, seeding and a purge."""
    await services.message_create(room=room, author="a", text="one")
    await seeding.seed_room(room=room, count=30, batch_size=7)
    last = await services.message_create(room=room, author="a", text="last")
    doc = await mongo_db()[documents.ROOMS].find_one({"_id": room})
    assert (doc["messages"], doc["last_seq"], doc["last_ts"]) == (32, last.seq, last.ts)
    await store.delete_messages(ids=[last.id])
    doc = await mongo_db()[documents.ROOMS].find_one({"_id": room})
    assert (doc["messages"], doc["last_seq"]) == (31, last.seq - 1)
    await store.delete_messages(room=room)
    assert await figures(room) is None


async def test_the_room_list_counts_present_names_once(room: str) -> None:
    """Two tabs of one name and one of another: two members."""
    await services.message_create(room=room, author="a", text="hi")
    await presence.add(room=room, name="ann", conn="c1")
    await presence.add(room=room, name="ann", conn="c2")
    await presence.add(room=room, name="bob", conn="c3")
    assert await figures(room) == (1, 2)
    await presence.remove(room=room, name="bob", conn="c3")
    assert await figures(room) == (1, 1)
    for conn in ("c1", "c2"):
        await presence.remove(room=room, name="ann", conn=conn)


async def test_rooms_stored_before_figures_were_kept_get_them_once(room: str) -> None:
    """Without the marker, index creation computes every room's figures from its messages."""
    await seeding.seed_room(room=room, count=5)
    await mongo_db()[documents.ROOMS].update_one({"_id": room}, {"$unset": {"messages": ""}})
    await mongo_db()[documents.META].delete_many({})
    assert await figures(room) is None
    await store.ensure_indexes()
    assert await figures(room) == (5, 0)


async def test_a_room_with_people_but_no_messages_yet_is_listed_first(room: str) -> None:
    """Someone waiting in a new room makes it active: listed before rooms with messages."""
    await presence.add(room=room, name="early", conn="c1")
    listings = await selectors.room_list(limit=1000)
    quiet = [listing for listing in listings if listing.stats is None]
    assert listings[: len(quiet)] == quiet
    assert [(q.members) for q in quiet if q.room == room] == [1]
    await presence.remove(room=room, name="early", conn="c1")
    assert await figures(room) is None
