"""The MongoDB message store: collection, indexes and small typed CRUD functions."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidDocument, InvalidId
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError
from redis.exceptions import RedisError

from chat.infra.clients import mongo_db
from chat.messages import historytail, migration, pages, roomfigures, searchindex
from chat.messages.documents import CLIENT_IDS, MESSAGES, ROOMS, client_id_key, from_doc, to_doc
from chat.ops import metrics
from chat.protocol import MessageOut

log = logging.getLogger(__name__)


class DuplicateSeq(Exception):
    """The (room, seq) pair is already taken: the sequence counter is behind the store."""


class DuplicateClientId(Exception):
    """The room already holds a message with this client_id: a resend of `original`."""

    def __init__(self, original: MessageOut) -> None:
        super().__init__(original.id)
        self.original = original


async def ensure_indexes() -> None:
    """Create the indexes the queries rely on (idempotent)."""
    coll = mongo_db()[MESSAGES]
    await coll.create_index([("room", ASCENDING), ("seq", ASCENDING)], unique=True, name="room_seq")
    # Every message has a client_id (the server makes one up when the client sent none),
    # so a plain unique index enforces idempotent resends without a partial index.
    await coll.create_index(
        [("room", ASCENDING), ("client_id", ASCENDING)], unique=True, name="room_client_id"
    )
    await coll.create_index([("ts", ASCENDING)], name="ts")
    await searchindex.ensure_indexes()
    copied = await migration.migrate_store(
        lambda done, total: log.info("store shape: %d of %d messages copied", done, total)
    )
    if copied:
        log.info("store shape: %d messages now keyed by room and seq", copied)
    await roomfigures.backfill()


_DUPLICATE_KEY = 11000
# What BSON encoding raises for a document it cannot take (services validate before, so
# this is the last line of defence).
_UNENCODABLE = (InvalidDocument, UnicodeEncodeError, OverflowError)


async def insert_message(message: MessageOut, *, client_id: str | None = None) -> None:
    """Store one message; raise DuplicateClientId for a resend, DuplicateSeq for a taken seq."""
    (outcome,) = await insert_messages([(message, client_id)])
    if outcome is not None:
        raise outcome


@metrics.mongo_op("insert")
async def insert_messages(
    entries: list[tuple[MessageOut, str | None]],
) -> list[Exception | None]:
    """Store (message, client_id) pairs of one room in one unordered insert; one outcome each.

    None when stored; otherwise DuplicateClientId (a resend: its original), DuplicateSeq, or
    the server's error for that message. One failure stops no other, and every duplicate of
    the insert is resolved together by key (`_originals`).
    """
    outcomes: list[Exception | None] = [None] * len(entries)
    try:
        await mongo_db()[MESSAGES].insert_many(
            [to_doc(message, client_id) for message, client_id in entries], ordered=False
        )
    except _UNENCODABLE as exc:
        # The driver refuses the whole batch before sending it: each alone fails alone.
        if len(entries) == 1:
            return [exc]
        return [(await insert_messages([entry]))[0] for entry in entries]
    except BulkWriteError as exc:
        duplicates: list[int] = []
        for error in exc.details.get("writeErrors", []):
            if error.get("code") == _DUPLICATE_KEY:
                duplicates.append(error["index"])
            else:
                outcomes[error["index"]] = OperationFailure(
                    error.get("errmsg", ""), error.get("code")
                )
        # Both unique keys raise the same error (FerretDB does not say which), so ask.
        originals = await _originals(
            entries[0][0].room,
            [
                (entries[index][0].seq, client_id)
                for index in duplicates
                if (client_id := entries[index][1])
            ],
        )
        for index in duplicates:
            message, client_id = entries[index]
            original = originals.get(client_id) if client_id else None
            outcomes[index] = (
                DuplicateClientId(original)
                if original is not None
                else DuplicateSeq(f"{message.room}#{message.seq}")
            )
    stored = [entry for entry, outcome in zip(entries, outcomes, strict=True) if not outcome]
    if stored:
        newest = max((message for message, _ in stored), key=lambda message: message.seq)
        await asyncio.gather(
            roomfigures.count_stored(
                newest.room, count=len(stored), last_seq=newest.seq, last_ts=newest.ts
            ),
            _note_client_ids(stored),
        )
        searchindex.stored(newest.room, [message.seq for message, _ in stored])
    return outcomes


async def _note_client_ids(stored: list[tuple[MessageOut, str | None]]) -> None:
    """Record each stored message's seq under its client_id, for `_originals`.

    Best effort: the unique index decided already, and what is not noted here is found by
    the slower query `_originals` falls back to.
    """
    docs = [
        {"_id": client_id_key(message.room, client_id), "seq": message.seq}
        for message, client_id in stored
        if client_id
    ]
    if not docs:
        return
    try:
        # One left by a deleted message with the same client_id: this one replaces it.
        await pages.put_by_id(CLIENT_IDS, docs)
    except PyMongoError as exc:
        log.warning("client_ids of %d stored messages not noted: %s", len(docs), exc)


async def _originals(room: str, wanted: list[tuple[int, str]]) -> dict[str, MessageOut]:
    """The stored originals of would-be duplicates (the seq each tried, its client_id) of
    one room, by client_id.

    Two reads by key for all of them: the seqs noted under their client_ids, then the
    messages at those seqs and at the seqs tried (a seq taken by another message explains a
    duplicate too). Only what that leaves unexplained (a client_id not noted) is looked for
    by a query on client_id, which FerretDB answers by reading the whole collection.
    """
    if not wanted:
        return {}
    client_ids = {client_id for _, client_id in wanted}
    noted = await pages.by_ids(CLIENT_IDS, [client_id_key(room, cid) for _, cid in wanted])
    tried = [seq for seq, _ in wanted]
    by_seq = await pages.get(room, sorted({int(doc["seq"]) for doc in noted} | set(tried)))
    found = {s.client_id: s.message for s in by_seq.values() if s.client_id in client_ids}
    unexplained = [cid for seq, cid in wanted if cid not in found and seq not in by_seq]
    if unexplained:
        query = {"room": room, "client_id": {"$in": unexplained}}
        async for doc in mongo_db()[MESSAGES].find(query):
            found[doc["client_id"]] = from_doc(doc)
    return found


@metrics.mongo_op("find_by_client_id")
async def find_by_client_id(room: str, client_id: str) -> MessageOut | None:
    """The message of the room stored under this client_id, if any."""
    return (await _originals(room, [(0, client_id)])).get(client_id)


async def insert_many(messages: list[MessageOut]) -> int:
    """Store a batch (seeding); return how many were written."""
    if not messages:
        return 0
    result = await mongo_db()[MESSAGES].insert_many([to_doc(m) for m in messages], ordered=False)
    for room in {m.room for m in messages}:
        newest = max((m for m in messages if m.room == room), key=lambda m: m.seq)
        stored = sum(1 for m in messages if m.room == room)
        await roomfigures.count_stored(room, count=stored, last_seq=newest.seq, last_ts=newest.ts)
        await searchindex.index_batch(room, [m for m in messages if m.room == room])
    return len(result.inserted_ids)


async def highest_seq_ever(room: str) -> int:
    """Highest seq the room ever stored, deleted messages included: where numbering resumes."""
    floor = await mongo_db()[ROOMS].find_one({"_id": room}, projection={"seq_floor": 1})
    return max(await pages.max_seq(room), int(floor.get("seq_floor", 0)) if floor else 0)


async def _raise_seq_floors(affected: list[str]) -> None:
    rooms = mongo_db()[ROOMS]
    for room in affected:
        await rooms.update_one(
            {"_id": room}, {"$max": {"seq_floor": await pages.max_seq(room)}}, upsert=True
        )


def _filter(*, room: str | None, text: str | None, before: datetime | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if room:
        query["room"] = room
    if text:
        query["text"] = {"$regex": _escape_regex(text), "$options": "i"}
    if before is not None:
        query["ts"] = {"$lt": before}
    return query


def _escape_regex(text: str) -> str:
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\/" else ch for ch in text)


async def find_messages(
    *,
    room: str | None = None,
    text: str | None = None,
    skip: int = 0,
    limit: int = 50,
) -> list[MessageOut]:
    """Messages matching the filters, newest first (operators' browsing)."""
    cursor = (
        mongo_db()[MESSAGES]
        .find(_filter(room=room, text=text, before=None))
        .sort([("ts", DESCENDING), ("seq", DESCENDING)])
        .skip(skip)
        .limit(limit)
    )
    return [from_doc(d) for d in await cursor.to_list(length=limit)]


async def count_messages(
    *, room: str | None = None, text: str | None = None, before: datetime | None = None
) -> int:
    """How many messages match the filters."""
    return await mongo_db()[MESSAGES].count_documents(_filter(room=room, text=text, before=before))


async def room_names() -> list[str]:
    """Every room that has stored messages, sorted."""
    return sorted(await mongo_db()[MESSAGES].distinct("room"))


async def delete_messages(
    *, room: str | None = None, before: datetime | None = None, ids: list[str] | None = None
) -> int:
    """Delete matching messages and return how many went. Seqs are never reused."""
    query = _filter(room=room, text=None, before=before)
    if ids is not None:
        object_ids = []
        for raw in ids:
            try:
                object_ids.append(ObjectId(raw))
            except (InvalidId, TypeError):
                continue
        query["_id"] = {"$in": object_ids}
    rooms = await mongo_db()[MESSAGES].distinct("room", query)
    await _raise_seq_floors(rooms)
    result = await mongo_db()[MESSAGES].delete_many(query)
    for affected in rooms:
        await roomfigures.recount(affected)
        figures = await mongo_db()[ROOMS].find_one({"_id": affected}, {"messages": 1}) or {}
        if not figures.get("messages"):
            await searchindex.forget(affected)  # none left; else the index names a superset
    try:
        await historytail.forget(rooms)  # after the delete: a fill that read before is dropped
    except RedisError as exc:
        log.warning("history tails of %s not dropped (they expire): %s", rooms, exc)
    return result.deleted_count
