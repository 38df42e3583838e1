"""Reads of the message store by seq: history pages, resumes, exports and the highest seq.

Every one a walk of gets by `_id` over the room's seqs, the one key FerretDB answers
without reading the whole collection (docs/architecture.md, "History reads go by key").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReplaceOne
from pymongo.errors import BulkWriteError

from chat.infra.clients import mongo_db
from chat.messages import roomfigures
from chat.messages.documents import MESSAGES, from_doc, message_key
from chat.ops import metrics
from chat.protocol import MessageOut


@dataclass(frozen=True)
class Page:
    """Messages in ascending seq order, and whether older ones exist."""

    messages: list[MessageOut]
    has_more: bool


@dataclass(frozen=True)
class Stored:
    message: MessageOut
    client_id: str


async def get(room: str, seqs: list[int]) -> dict[int, Stored]:
    """The room's stored messages at these seqs, by seq (absent where none is stored)."""
    docs = await _docs_at(room, seqs)
    return {int(doc["seq"]): Stored(from_doc(doc), doc["client_id"]) for doc in docs}


async def _docs_at(room: str, seqs: list[int]) -> list[dict[str, Any]]:
    # With the room: a collection sharded on (room, seq) answers from one shard.
    return await by_ids(MESSAGES, [message_key(room, seq) for seq in seqs], room=room)


async def by_ids(
    collection: str,
    ids: list[ObjectId],
    *,
    projection: dict[str, int] | None = None,
    **fields: str,
) -> list[dict[str, Any]]:
    """The documents of a collection with these `_id`s (and `fields`, when given): one `$in`,
    or concurrent single gets where the server would scan for an `$in` (`_in_scans`)."""
    if not ids:
        return []
    coll = mongo_db()[collection]
    if await _in_scans():
        found = await asyncio.gather(
            *(coll.find_one({"_id": key, **fields}, projection) for key in ids)
        )
        return [doc for doc in found if doc is not None]
    cursor = coll.find({**fields, "_id": {"$in": ids}}, projection)
    return await cursor.to_list(length=len(ids))


async def put_by_id(collection: str, docs: list[dict[str, Any]]) -> None:
    """Write documents by `_id`: one unordered insert, then a replace of those whose `_id`
    is taken (an earlier write's), each a whole document, never a merge."""
    if not docs:
        return
    coll = mongo_db()[collection]
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != _DUPLICATE_KEY for e in errors):
            raise
        taken = [docs[e["index"]] for e in errors]
        await coll.bulk_write([ReplaceOne({"_id": d["_id"]}, d) for d in taken], ordered=False)


_DUPLICATE_KEY = 11000
_in_scan: bool | None = None


async def _in_scans() -> bool:
    """Whether the server reads the whole collection for an `$in` of `_id`s (a FerretDB
    built without tools/ferretdb's fix), so gets go one by one, concurrently: FerretDB
    answers a lone `_id` from its index. Asked once per process, from the query's plan."""
    global _in_scan
    if _in_scan is None:
        db = mongo_db()
        info = await db.client.admin.command("buildInfo")
        explained = await db.command(
            "explain", {"find": MESSAGES, "filter": {"room": "", "_id": {"$in": [ObjectId()]}}}
        )
        planner = explained.get("queryPlanner") or {}
        in_scan = "ferretdbVersion" in info and "USING INDEX" not in json.dumps(
            planner, default=str
        )
        if planner or not in_scan:  # no plan at all: no collection yet, ask again later
            _in_scan = in_scan
        return in_scan
    return _in_scan


# Seqs one page read asks for by key before a range query finishes it: each hole (a seq a
# failed write took, a deleted message) costs one miss, and the range query is a scan on
# FerretDB (docs/performance.md#store-shape).
_PROBE_BUDGET = 2048


async def _walk(room: str, *, start: int, end: int, step: int, want: int) -> list[MessageOut]:
    """Up to `want` stored messages from seq `start` toward `end` (both included), in walk
    order (`step` 1 upward, -1 downward): windows of gets by key, doubling while holes show."""
    found: list[MessageOut] = []
    at, budget, window = start, _PROBE_BUDGET, 0
    while len(found) < want and (end - at) * step >= 0:
        if budget <= 0:
            found += await _range(room, start=at, end=end, step=step, limit=want - len(found))
            break
        window = min(budget, (end - at) * step + 1, max(want - len(found), window * 2))
        seqs = list(range(at, at + step * window, step))
        got = await get(room, seqs)
        found += [got[seq].message for seq in seqs if seq in got]
        at += step * window
        budget -= window
    return found[:want]


async def _range(room: str, *, start: int, end: int, step: int, limit: int) -> list[MessageOut]:
    low, high = sorted((start, end))
    cursor = (
        mongo_db()[MESSAGES]
        .find({"room": room, "seq": {"$gte": low, "$lte": high}})
        .sort("seq", ASCENDING if step > 0 else DESCENDING)
        .limit(limit)
    )
    return [from_doc(doc) for doc in await cursor.to_list(length=limit)]


@metrics.mongo_op("page_before")
async def page_before(
    room: str, *, before_seq: int | None, limit: int, top: int | None = None
) -> Page:
    """The `limit` newest messages below `before_seq` (or the newest overall).

    `top`: a seq no stored one exceeds (the room's seq counter) when the caller has it;
    the room's figures bound the walk otherwise.
    """
    first, last = await roomfigures.seq_span(room, top=top)
    high = last if before_seq is None else min(last, before_seq - 1)
    found = await _walk(room, start=high, end=first, step=-1, want=limit + 1)
    return Page(list(reversed(found[:limit])), len(found) > limit)


@metrics.mongo_op("page_after")
async def page_after(room: str, *, after_seq: int, limit: int, top: int | None = None) -> Page:
    """The `limit` oldest messages above `after_seq`; `has_more` when newer ones exist."""
    first, last = await roomfigures.seq_span(room, top=top)
    found = await _walk(room, start=max(first, after_seq + 1), end=last, step=1, want=limit + 1)
    return Page(found[:limit], len(found) > limit)


async def pages_after(
    room: str, *, after_seq: int, page_size: int, top: int | None = None
) -> AsyncIterator[list[MessageOut]]:
    """Every message above `after_seq` in ascending seq, in lists of `page_size` (a resume,
    an export), each read by key like a page."""
    first, last = await roomfigures.seq_span(room, top=top)
    at = max(first, after_seq + 1)
    while at <= last:
        page = await _walk(room, start=at, end=last, step=1, want=page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        at = page[-1].seq + 1


# Seqs above the room's figures looked at in one window when finding its highest: a
# window with none stored ends the search (the figures lag only concurrent writes).
_ABOVE_WINDOW = 256


@metrics.mongo_op("max_seq")
async def max_seq(room: str) -> int:
    """Highest stored seq of the room, 0 when it has none: the newest its figures know,
    then windows above it, all gets by key (the store's own maximum is a scan on FerretDB).
    """
    first, last = await roomfigures.seq_span(room)
    below = await _walk(room, start=last, end=first, step=-1, want=1)
    highest = below[0].seq if below else 0
    at = max(last, highest) + 1
    while got := await get(room, list(range(at, at + _ABOVE_WINDOW))):
        highest = max(got)
        at = highest + 1
    return highest


# Messages one search page reads at most before it answers with what it found and where to
# go on (`SearchPage.next_before_seq`): a search costs the same in a room of any size.
SEARCH_SCAN = 5_000
_SEARCH_WINDOW = 500


@dataclass(frozen=True)
class SearchPage:
    """Matches newest first; `has_more` when older ones may exist, to be asked for with
    `next_before_seq` (the oldest seq this page read)."""

    messages: list[MessageOut]
    has_more: bool
    next_before_seq: int | None


@metrics.mongo_op("search_walk")
async def search(
    room: str, *, text: str, before_seq: int | None, limit: int, top: int | None = None
) -> SearchPage:
    """The newest `limit` messages below `before_seq` containing `text` in any case, read by
    key newest first, at most SEARCH_SCAN of them: what the search index cannot answer
    (chat.messages.searching), where a `$regex` would read the whole collection on FerretDB."""
    first, last = await roomfigures.seq_span(room, top=top)
    high = last if before_seq is None else min(last, before_seq - 1)
    found, low = await scan(
        room, text=text, high=high, low=first, want=limit + 1, budget=SEARCH_SCAN
    )
    if len(found) > limit:
        return SearchPage(found[:limit], True, found[limit - 1].seq)
    return SearchPage(found, low > first, low if low > first else None)


async def scan(
    room: str, *, text: str, high: int, low: int, want: int, budget: int
) -> tuple[list[MessageOut], int]:
    """Up to `want` messages holding `text` from seq `high` down to `low`, newest first,
    reading about `budget` seqs at most: (those found, the lowest seq read; `high + 1` if none)."""
    needle = text.casefold()
    found: list[MessageOut] = []
    at = high
    while at >= low and high - at < budget and len(found) < want:
        seqs = list(range(at, max(low, at - _SEARCH_WINDOW + 1) - 1, -1))
        docs = await _docs_at(room, seqs)
        # Matched before decoding: most of the stretch is not a match.
        hits = [doc for doc in docs if needle in doc["text"].casefold()]
        found += [from_doc(doc) for doc in sorted(hits, key=lambda d: d["seq"], reverse=True)]
        at = seqs[-1] - 1
    return found, at + 1
