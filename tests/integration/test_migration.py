"""Messages of the earlier store shape are brought into the seq-keyed one, with progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

from asgiref.sync import sync_to_async
from bson import ObjectId
from django.core.management import call_command

from chat.infra.clients import mongo_db
from chat.messages import migration, pages, roomfigures, store
from chat.messages.documents import LEGACY_MESSAGES


def _legacy(room: str, seq: int, client_id: str) -> dict[str, object]:
    ts = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq)
    return {
        "_id": ObjectId(),
        "room": room,
        "seq": seq,
        "client_id": client_id,
        "author": "alice",
        "account": None,
        "text": f"m{seq}",
        "ts": ts,
    }


async def test_legacy_messages_are_copied_once_and_read_by_key(room: str) -> None:
    legacy = mongo_db()[LEGACY_MESSAGES]
    await legacy.insert_many([_legacy(room, seq, f"c{seq}") for seq in range(5, 2506)])
    # An interrupted earlier run copied some already.
    await migration._copy(await legacy.find({"seq": {"$lt": 100}}).to_list(None), {})
    seen: list[tuple[int, int]] = []

    copied = await migration.migrate_store(lambda done, total: seen.append((done, total)))

    assert copied == 2501
    assert seen == [(1000, 2501), (2000, 2501), (2501, 2501)]
    assert LEGACY_MESSAGES not in await mongo_db().list_collection_names()
    assert await store.count_messages(room=room) == 2501
    assert (await roomfigures.seq_span(room))[0] == 5
    oldest = await pages.page_before(room, before_seq=8, limit=10)
    assert ([m.seq for m in oldest.messages], oldest.has_more) == ([5, 6, 7], False)
    assert (await store.find_by_client_id(room, "c42")).text == "m42"  # type: ignore[union-attr]
    assert await migration.migrate_store() == 0


async def test_the_command_reports_progress(room: str) -> None:
    await mongo_db()[LEGACY_MESSAGES].insert_many([_legacy(room, seq, f"c{seq}") for seq in (1, 2)])
    out = StringIO()
    await sync_to_async(call_command)("migrate_store", stdout=out)
    lines = out.getvalue().splitlines()
    # Between them, the search index of rooms stored before it (an earlier test's, here).
    assert (lines[0], lines[-1]) == (
        "2/2 messages copied",
        "2 messages migrated; the store is current.",
    )
    assert all(line.startswith("search index") for line in lines[1:-1])
    page = await pages.page_before(room, before_seq=None, limit=5)
    assert [m.text for m in page.messages] == ["m1", "m2"]
