"""The MongoDB message store: collection, indexes and small typed CRUD functions."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidDocument, InvalidId
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, OperationFailure
from redis.exceptions import RedisError

from chat.infra.clients import mongo_db
from chat.messages import historytail, roomfigures
from chat.messages.documents import MESSAGES, ROOMS, from_doc, to_doc
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


@dataclass(frozen=True)
class Page:
    """Messages in ascending seq order, and whether older ones exist."""

    messages: list[MessageOut]
    has_more: bool


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
    await roomfigures.backfill()


_DUPLICATE_KEY = 11000
# What BSON encoding raises for a document it cannot take (services validate before, so
# this is the last line of defence).
_UNENCODABLE = (InvalidDocument, UnicodeEncodeError, OverflowError)


def message_id(room: str, client_id: str | None) -> str:
    """A new message's id: derived from room and client_id when the sender gave one.

    So a resend's original is found by `_id`, the one key FerretDB looks up without a scan
    (docs/delivery.md#resends); a message without a client_id never has a resend.
    """
    if client_id is None:
        return str(ObjectId())
    key = f"{room}\0{client_id}".encode("utf-8", "surrogatepass")
    return str(ObjectId(hashlib.blake2b(key, digest_size=12).digest()))


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
        # Both unique indexes raise the same error (FerretDB does not say which), so ask.
        originals = await _originals([entries[index] for index in duplicates])
        for index in duplicates:
            message, client_id = entries[index]
            original = originals.get(client_id) if client_id else None
            outcomes[index] = (
                DuplicateClientId(original)
                if original is not None
                else DuplicateSeq(f"{message.room}#{message.seq}")
            )
    stored = [
        message for (message, _), outcome in zip(entries, outcomes, strict=True) if not outcome
    ]
    if stored:
        newest = max(stored, key=lambda message: message.seq)
        await roomfigures.count_stored(
            newest.room, count=len(stored), last_seq=newest.seq, last_ts=newest.ts
        )
    return outcomes


async def _originals(entries: list[tuple[MessageOut, str | None]]) -> dict[str, MessageOut]:
    """The stored originals of these would-be duplicates, by client_id (one room).

    By `_id` (message_id), concurrently: each an indexed get, also on FerretDB, where `$in`
    scans. What that misses (a message stored before ids were derived, or a seq taken)
    is looked for in one query by client_id for all of them.
    """
    wanted = [(message, client_id) for message, client_id in entries if client_id]
    if not wanted:
        return {}
    coll = mongo_db()[MESSAGES]
    docs = await asyncio.gather(
        *(
            coll.find_one({"_id": ObjectId(message_id(message.room, client_id))})
            for message, client_id in wanted
        )
    )
    found = {doc["client_id"]: from_doc(doc) for doc in docs if doc is not None}
    missing = [client_id for _, client_id in wanted if client_id not in found]
    if missing:
        room = wanted[0][0].room
        async for doc in coll.find({"room": room, "client_id": {"$in": missing}}):
            found[doc["client_id"]] = from_doc(doc)
    return found


@metrics.mongo_op("find_by_client_id")
async def find_by_client_id(room: str, client_id: str) -> MessageOut | None:
    """The message of the room stored under this client_id, if any."""
    doc = await mongo_db()[MESSAGES].find_one({"room": room, "client_id": client_id})
    return from_doc(doc) if doc else None


async def insert_many(messages: list[MessageOut]) -> int:
    """Store a batch (seeding); return how many were written."""
    if not messages:
        return 0
    result = await mongo_db()[MESSAGES].insert_many([to_doc(m) for m in messages], ordered=False)
    for room in {m.room for m in messages}:
        newest = max((m for m in messages if m.room == room), key=lambda m: m.seq)
        stored = sum(1 for m in messages if m.room == room)
        await roomfigures.count_stored(room, count=stored, last_seq=newest.seq, last_ts=newest.ts)
    return len(result.inserted_ids)


@metrics.mongo_op("max_seq")
async def max_seq(room: str) -> int:
    """Highest stored seq of the room, 0 when it has none."""
    doc = await mongo_db()[MESSAGES].find_one(
        {"room": room}, projection={"seq": 1}, sort=[("seq", DESCENDING)]
    )
    return int(doc["seq"]) if doc else 0


async def highest_seq_ever(room: str) -> int:
    """Highest seq the room ever stored, deleted messages included: where numbering resumes."""
    floor = await mongo_db()[ROOMS].find_one({"_id": room}, projection={"seq_floor": 1})
    return max(await max_seq(room), int(floor.get("seq_floor", 0)) if floor else 0)


async def _raise_seq_floors(affected: list[str]) -> None:
    rooms = mongo_db()[ROOMS]
    for room in affected:
        await rooms.update_one(
            {"_id": room}, {"$max": {"seq_floor": await max_seq(room)}}, upsert=True
        )


@metrics.mongo_op("page_before")
async def page_before(room: str, *, before_seq: int | None, limit: int) -> Page:
    """The `limit` newest messages below `before_seq` (or the newest overall)."""
    query: dict[str, Any] = {"room": room}
    if before_seq is not None:
        query["seq"] = {"$lt": before_seq}
    cursor = mongo_db()[MESSAGES].find(query).sort("seq", DESCENDING).limit(limit + 1)
    docs = await cursor.to_list(length=limit + 1)
    has_more = len(docs) > limit
    return Page([from_doc(d) for d in reversed(docs[:limit])], has_more)


@metrics.mongo_op("page_after")
async def page_after(room: str, *, after_seq: int, limit: int) -> Page:
    """The `limit` oldest messages above `after_seq`; `has_more` when newer ones exist."""
    cursor = (
        mongo_db()[MESSAGES]
        .find({"room": room, "seq": {"$gt": after_seq}})
        .sort("seq", ASCENDING)
        .limit(limit + 1)
    )
    docs = await cursor.to_list(length=limit + 1)
    return Page([from_doc(d) for d in docs[:limit]], len(docs) > limit)


async def search(room: str, *, text: str, before_seq: int | None, limit: int) -> Page:
    """The `limit` newest messages below `before_seq` containing `text` in any case,
    newest first; `has_more` when older matches exist.

    A `$regex` of the escaped text with option `i`: FerretDB runs it (as a scan of the room's
    messages), and no regex metacharacter in a query means anything but itself.
    """
    query = _filter(room=room, text=text, before=None)
    if before_seq is not None:
        query["seq"] = {"$lt": before_seq}
    cursor = mongo_db()[MESSAGES].find(query).sort("seq", DESCENDING).limit(limit + 1)
    docs = await cursor.to_list(length=limit + 1)
    return Page([from_doc(d) for d in docs[:limit]], len(docs) > limit)


async def pages_after(
    room: str, *, after_seq: int, page_size: int
) -> AsyncIterator[list[MessageOut]]:
    """Every message above `after_seq` in ascending seq, in lists of `page_size`, from one query.

    One cursor instead of a query per page: a resume of thousands of messages costs one
    index range scan (on FerretDB's SQLite backend, one table scan rather than one per page).
    """
    cursor = (
        mongo_db()[MESSAGES]
        .find({"room": room, "seq": {"$gt": after_seq}})
        .sort("seq", ASCENDING)
        .batch_size(page_size)
    )
    page: list[MessageOut] = []
    async for doc in cursor:
        page.append(from_doc(doc))
        if len(page) == page_size:
            yield page
            page = []
    if page:
        yield page


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
    try:
        await historytail.forget(rooms)  # after the delete: a fill that read before is dropped
    except RedisError as exc:
        log.warning("history tails of %s not dropped (they expire): %s", rooms, exc)
    return result.deleted_count
