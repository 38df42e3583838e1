"""Each room's figures (messages, last seq and time), kept as messages are stored and
deleted, so the room list is one read of a small collection however many messages exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from chat.infra.clients import mongo_db
from chat.messages.documents import MESSAGES, META, ROOMS

_ROOM_FIGURES_READY = "room_figures"


async def backfill() -> None:
    """Give rooms stored before room figures were kept their figures, once per database.

    Messages stored while this runs may be counted twice or not at all; it runs at start,
    before workers serve (runchat), so in practice only when upgrading a busy database.
    """
    meta = mongo_db()[META]
    if await meta.find_one({"_id": _ROOM_FIGURES_READY}) is not None:
        return
    for stats in await room_stats_all():
        await mongo_db()[ROOMS].update_one(
            {"_id": stats.room},
            {
                "$set": {
                    "messages": stats.messages,
                    "last_seq": stats.last_seq,
                    "last_ts": stats.last_ts,
                }
            },
            upsert=True,
        )
    await meta.update_one({"_id": _ROOM_FIGURES_READY}, {"$set": {"done": True}}, upsert=True)


async def count_stored(room: str, *, count: int, last_seq: int, last_ts: datetime) -> None:
    """Add `count` stored messages to the room's figures (one small upsert by _id)."""
    update = {"$inc": {"messages": count}, "$max": {"last_seq": last_seq, "last_ts": last_ts}}
    try:
        await mongo_db()[ROOMS].update_one({"_id": room}, update, upsert=True)
    except DuplicateKeyError:
        # Two first writes of a room upserted at once and the other created the document:
        # it exists now, so the same update applies to it.
        await mongo_db()[ROOMS].update_one({"_id": room}, update, upsert=True)


async def recount(room: str) -> None:
    """Set the room's figures from what it holds (after deletes, which are rare).

    Also its `first_seq`, where history walks stop (chat.messages.store): the oldest stored,
    or past the highest ever once none is left.
    """
    messages = mongo_db()[MESSAGES]
    count = await messages.count_documents({"room": room})
    newest = await messages.find_one(
        {"room": room}, projection={"seq": 1, "ts": 1}, sort=[("seq", DESCENDING)]
    )
    oldest = await messages.find_one(
        {"room": room}, projection={"seq": 1}, sort=[("seq", ASCENDING)]
    )
    figures: dict[str, Any] = {"messages": count}
    if newest is not None and oldest is not None:
        figures |= {"last_seq": newest["seq"], "last_ts": newest["ts"], "first_seq": oldest["seq"]}
    else:
        doc = await mongo_db()[ROOMS].find_one({"_id": room}) or {}
        figures["first_seq"] = max(int(doc.get("seq_floor", 0)), int(doc.get("last_seq", 0))) + 1
    await mongo_db()[ROOMS].update_one({"_id": room}, {"$set": figures}, upsert=True)


async def seq_span(room: str, *, top: int | None = None) -> tuple[int, int]:
    """The seqs the room's stored messages lie between: (first, last), both included.

    `last` is the figures' newest seq, or `top` when higher (the seq counter, which no
    stored seq exceeds, where the figures may lag a concurrent write); one get by `_id`.
    """
    doc = await mongo_db()[ROOMS].find_one(
        {"_id": room}, projection={"first_seq": 1, "last_seq": 1}
    )
    doc = doc or {}
    return max(1, int(doc.get("first_seq", 1))), max(int(doc.get("last_seq", 0)), top or 0)


async def last_seq(room: str) -> int:
    """The room's newest seq as its figures have it: one get by `_id` (a resume's welcome).

    Kept with `$max` as messages are stored; a store without isolation may leave it a
    message behind under concurrent writes (docs/delivery.md), never ahead.
    """
    doc = await mongo_db()[ROOMS].find_one({"_id": room}, projection={"last_seq": 1})
    return int(doc.get("last_seq", 0)) if doc else 0


@dataclass(frozen=True)
class RoomStats:
    """A room's stored message count and its newest message's seq and time."""

    room: str
    messages: int
    last_seq: int
    last_ts: datetime


async def room_figures(*, order: str, limit: int) -> list[RoomStats]:
    """Rooms holding messages by the figures kept as messages are stored: one read of the
    small rooms collection, however many messages there are.

    `order`: "recent" (newest message first) or "busiest" (most messages first).
    """
    by = ("last_ts", "messages") if order == "recent" else ("messages", "last_ts")
    cursor = (
        mongo_db()[ROOMS]
        .find({"messages": {"$gt": 0}})
        .sort([(by[0], DESCENDING), (by[1], DESCENDING), ("_id", ASCENDING)])
        .limit(limit)
    )
    return [
        RoomStats(
            room=doc["_id"],
            messages=int(doc["messages"]),
            last_seq=int(doc["last_seq"]),
            last_ts=doc["last_ts"],
        )
        for doc in await cursor.to_list(length=limit)
    ]


async def room_stats_all() -> list[RoomStats]:
    """Every room holding messages, with its figures, from one pass over all messages.

    Only to compute the kept figures once for messages stored before they were kept
    (`_backfill_room_figures`): one scan rather than `distinct` plus a count and a
    newest-message query per room, which FerretDB's SQLite backend would answer with a
    full scan each.
    """
    counts: dict[str, int] = {}
    newest: dict[str, tuple[int, datetime]] = {}
    cursor = (
        mongo_db()[MESSAGES]
        .find({}, projection={"_id": 0, "room": 1, "seq": 1, "ts": 1})
        .batch_size(10_000)
    )
    async for doc in cursor:
        room, seq = doc["room"], int(doc["seq"])
        counts[room] = counts.get(room, 0) + 1
        if room not in newest or seq > newest[room][0]:
            newest[room] = (seq, doc["ts"])
    return [
        RoomStats(room=room, messages=count, last_seq=newest[room][0], last_ts=newest[room][1])
        for room, count in counts.items()
    ]
