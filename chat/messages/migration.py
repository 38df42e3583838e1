"""Bring messages stored in the earlier shape (LEGACY_MESSAGES) into the seq-keyed one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.errors import BulkWriteError

from chat.infra.clients import mongo_db
from chat.messages import pages, searchindex
from chat.messages.documents import (
    CLIENT_IDS,
    LEGACY_MESSAGES,
    MESSAGES,
    ROOMS,
    client_id_key,
    message_key,
)

BATCH_SIZE = 1000
_DUPLICATE_KEY = 11000

Progress = Callable[[int, int], None]
"""Called after each batch with (messages copied so far, messages to copy)."""
IndexProgress = Callable[[str, int, int], None]
"""Called after each unit the search index build seals: (room, seq reached, room's highest)."""


async def migrate_store(progress: Progress | None = None) -> int:
    """Copy every message of the earlier shape under its seq-derived `_id`, note its
    client_id, bound each room's seqs in its figures, then drop the old collection; return how many.

    Runs before workers serve (runchat, `manage.py migrate_store`). An interrupted run
    loses nothing: the old collection goes only once all is copied, and a message copied
    already is skipped when it runs again.
    """
    db = mongo_db()
    if LEGACY_MESSAGES not in await db.list_collection_names():
        return 0
    legacy = db[LEGACY_MESSAGES]
    total = await legacy.count_documents({})
    copied = 0
    spans: dict[str, tuple[int, int]] = {}
    batch: list[dict[str, Any]] = []
    async for doc in legacy.find({}).batch_size(BATCH_SIZE):
        batch.append(doc)
        if len(batch) == BATCH_SIZE:
            copied += await _copy(batch, spans)
            batch = []
            if progress is not None:
                progress(copied, total)
    copied += await _copy(batch, spans)
    if progress is not None:
        progress(copied, total)
    for room, (first, last) in spans.items():
        await db[ROOMS].update_one(
            {"_id": room}, {"$set": {"first_seq": first}, "$max": {"last_seq": last}}, upsert=True
        )
    await legacy.drop()
    return copied


async def _copy(docs: list[dict[str, Any]], spans: dict[str, tuple[int, int]]) -> int:
    """Copy a batch; widen `spans` (each room's lowest and highest seq) by it."""
    if not docs:
        return 0
    copies = []
    for doc in docs:
        room, seq = doc["room"], int(doc["seq"])
        key = message_key(room, seq)
        copies.append(doc | {"_id": key, "client_id": doc.get("client_id") or f"srv-{key}"})
        first, last = spans.get(room, (seq, seq))
        spans[room] = (min(first, seq), max(last, seq))
    await _insert_new(MESSAGES, copies)
    await _insert_new(
        CLIENT_IDS,
        [
            {"_id": client_id_key(copy["room"], copy["client_id"]), "seq": copy["seq"]}
            for copy in copies
            if not copy["client_id"].startswith("srv-")
        ],
    )
    return len(docs)


async def _insert_new(collection: str, docs: list[dict[str, Any]]) -> None:
    """Insert what is not there yet: a duplicate key is a copy made by an earlier run."""
    if not docs:
        return
    try:
        await mongo_db()[collection].insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != _DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


async def build_search_index(
    progress: IndexProgress | None = None, *, rooms: list[str] | None = None
) -> int:
    """Seal the search index's units of every room (or of `rooms`) not sealed yet: messages
    stored before the index, or units a failed seal left; return how many were sealed.

    Resumable: a sealed unit is skipped. Rooms are the room figures' (every room that ever
    stored a message).
    """
    if rooms is None:
        rooms = [doc["_id"] async for doc in mongo_db()[ROOMS].find({}, {"_id": 1})]
    sealed = 0
    for room in rooms:
        high = await pages.max_seq(room)
        report = None if progress is None else (lambda at, r=room, h=high: progress(r, at, h))
        sealed += await searchindex.build(room, high, report)
    return sealed
