"""The search index: per room and unit of consecutive seqs, which seqs hold each trigram.

A unit is written once all its seqs are handed out (it is *sealed*), by whoever stores past
its end, from the messages it holds: one document per trigram (`token_key`) and a marker
(`unit_key`). Nothing is ever updated in place by several writers, because FerretDB loses
concurrent updates of one document (docs/performance.md#store-shape): a message stored
into a unit after its seal (a late write) seals it again, and every seal reads the unit's
seqs again after writing and repeats if they changed, so the last write of each document
holds every message stored before it. Two levels: units of 64 seqs near the newest, of
4,096 below; units are sealed in order at each level, so the newest marker vouches for all
below it (chat.messages.searching reads them).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from chat.infra.clients import mongo_db
from chat.messages import pages, trigrams
from chat.messages.documents import (
    MESSAGES,
    SEARCH_TOKENS,
    SEARCH_UNITS,
    message_key,
    token_key,
    unit_key,
)
from chat.protocol import MessageOut

log = logging.getLogger(__name__)

# Seqs per unit at each level; a level's unit is a whole number of the one below's.
LEVELS = (64, 4096)
_TOP = len(LEVELS) - 1
# Unsealed predecessors one seal seals first before it gives up (an unindexed room is for
# `build`, chat.messages.migration); and how often a seal re-reads before it gives up.
_MAX_CASCADE = 8
_MAX_ROUNDS = 4
_READ_WINDOW = 512

Unit = tuple[int, int]
"""(level, unit number): seqs `number * LEVELS[level]` up to the next unit's first."""


def unit_of(seq: int, level: int) -> int:
    return seq // LEVELS[level]


def bounds(level: int, unit: int) -> tuple[int, int]:
    """The first and last seq of a unit."""
    return unit * LEVELS[level], (unit + 1) * LEVELS[level] - 1


async def markers(room: str, units: Iterable[Unit]) -> dict[Unit, dict[str, Any]]:
    """The markers of those of these units that are sealed."""
    keys = [unit_key(room, level, unit) for level, unit in units]
    docs = await pages.by_ids(SEARCH_UNITS, keys)
    return {(int(doc["level"]), int(doc["unit"])): doc for doc in docs}


Texts = dict[int, tuple[str, datetime]]
"""Stored messages by seq: their text and time."""


async def _read(room: str, seqs: list[int]) -> Texts:
    found: Texts = {}
    for at in range(0, len(seqs), _READ_WINDOW):
        window = [message_key(room, seq) for seq in seqs[at : at + _READ_WINDOW]]
        docs = await pages.by_ids(
            MESSAGES, window, projection={"seq": 1, "text": 1, "ts": 1}, room=room
        )
        found |= {int(doc["seq"]): (doc["text"], doc["ts"]) for doc in docs}
    return found


async def _base(room: str, level: int, unit: int) -> int | None:
    """How many messages the room holds below the unit (its predecessor's running total),
    None while the predecessor is not sealed."""
    start, _ = bounds(level, unit)
    if start == 0:
        return 0
    before = [(level, unit - 1)]
    if level < _TOP and start % LEVELS[level + 1] == 0:
        before.append((level + 1, unit_of(start - 1, level + 1)))  # sealed above instead
    found = await markers(room, before)
    return next((int(found[u]["total"]) for u in before if u in found), None)


async def seal(room: str, level: int, unit: int, *, known: Texts | None = None) -> bool:
    """Write the unit's trigram documents and marker from what it holds; False when an
    unsealed predecessor could not be sealed first (the unit stays unsealed).

    `known`: messages of the unit the caller holds and nobody else writes (a seeded batch),
    not read again.
    """
    chain = [unit]
    while (base := await _base(room, level, chain[-1])) is None:
        if len(chain) > _MAX_CASCADE:
            log.warning("search index of %s: units below %s unsealed", room, (level, unit))
            return False
        chain.append(chain[-1] - 1)
    for number in reversed(chain):
        base = await _seal_one(room, level, number, base=base, known=known or {})
    return True


async def _seal_one(room: str, level: int, unit: int, *, base: int, known: Texts) -> int:
    """Seal one unit whose predecessor is sealed; return its running total."""
    start, end = bounds(level, unit)
    wanted = [seq for seq in range(max(start, 1), end + 1) if seq not in known]
    held = {seq: known[seq] for seq in range(start, end + 1) if seq in known}
    total = base
    for _ in range(_MAX_ROUNDS):
        texts = held | await _read(room, wanted)
        total = base + len(texts)
        await _write(room, level, unit, texts, total=total)
        if not wanted or set(await _read_seqs(room, wanted)) == set(texts) - set(held):
            break
    return total


async def _read_seqs(room: str, seqs: list[int]) -> list[int]:
    found: list[int] = []
    for at in range(0, len(seqs), _READ_WINDOW):
        window = [message_key(room, seq) for seq in seqs[at : at + _READ_WINDOW]]
        docs = await pages.by_ids(MESSAGES, window, projection={"seq": 1}, room=room)
        found += [int(doc["seq"]) for doc in docs]
    return found


async def _write(room: str, level: int, unit: int, texts: Texts, *, total: int) -> None:
    start, _ = bounds(level, unit)
    offsets: dict[str, list[int]] = {}
    for seq, (text, _) in texts.items():
        for gram in trigrams.of_text(text):
            offsets.setdefault(gram, []).append(seq - start)
    where = {"room": room, "level": level, "unit": unit}
    await pages.put_by_id(
        SEARCH_TOKENS,
        [
            {
                "_id": token_key(room, level, unit, gram),
                **where,
                **trigrams.encode(o, span=LEVELS[level]),
            }
            for gram, o in offsets.items()
        ],
    )
    newest = max(texts, default=0)
    marker = where | {"count": len(texts), "total": total, "last_seq": newest}
    if newest:
        marker["last_ts"] = texts[newest][1]
    # After the trigrams: a marker vouches for documents that are all written.
    await pages.put_by_id(SEARCH_UNITS, [{"_id": unit_key(room, level, unit), **marker}])


async def index_batch(room: str, messages: list[MessageOut]) -> None:
    """Seal the units a batch of the room's messages completes, from the batch itself where
    it covers them (seeding: seqs reserved by the caller, so nobody else writes them)."""
    if not messages:
        return
    known = {m.seq: (m.text, m.ts) for m in messages}
    high = max(known)
    await _seal_completed(room, high, known=known, low=min(known))


async def _seal_completed(room: str, high: int, *, known: Texts, low: int) -> None:
    """Seal the units from `low`'s up to those ending at `high`, the top level first: below
    a unit sealed there, no smaller units are needed."""
    covered = low - 1
    for level in range(_TOP, -1, -1):
        numbers = list(range(unit_of(covered + 1, level), (high + 1) // LEVELS[level]))
        found = await markers(room, [(level, number) for number in numbers])
        for number in numbers:
            if (level, number) not in found and not await seal(room, level, number, known=known):
                break
            covered = bounds(level, number)[1]


# Rooms' newest units this process saw sealed, so most groups ask nothing: (level, unit).
_SEEN_LIMIT = 10_000
_seen: dict[str, int] = {}


async def after_store(room: str, seqs: list[int]) -> None:
    """After messages were stored: seal again a unit they landed in after its seal, and seal
    the units their seqs complete."""
    touched = {(level, unit_of(seq, level)) for seq in seqs for level in range(len(LEVELS))}
    for level, number in sorted(await markers(room, touched), reverse=True):
        await seal(room, level, number)
    high = max(seqs)
    done = (high + 1) // LEVELS[0] - 1
    if _seen.get(room, -1) < done:
        await _seal_completed(room, high, known={}, low=max(high - LEVELS[0] + 1, 0))
        if len(_seen) > _SEEN_LIMIT:
            _seen.clear()
        _seen[room] = done


class _Queue:
    """One event loop's rooms waiting for `after_store`, and the rooms being indexed."""

    def __init__(self) -> None:
        self.waiting: dict[str, set[int]] = {}
        self.running: dict[str, asyncio.Task[None]] = {}


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()


def stored(room: str, seqs: list[int]) -> None:
    """Index stored messages in the background (one task per room at a time): the writer
    is not kept waiting, and a search finds them once their unit is sealed."""
    loop = asyncio.get_running_loop()
    queue = _loops.setdefault(loop, _Queue())
    queue.waiting.setdefault(room, set()).update(seqs)
    if room not in queue.running:
        queue.running[room] = loop.create_task(_drain(queue, room))


async def _drain(queue: _Queue, room: str) -> None:
    try:
        while seqs := queue.waiting.pop(room, None):
            try:
                await after_store(room, sorted(seqs))
            except PyMongoError as exc:  # the next write of the room tries again
                log.warning("search index of room %s not written: %s", room, exc)
            except Exception:
                log.exception("search index of room %s not written", room)
    finally:
        del queue.running[room]


async def settled(timeout: float = 30.0) -> None:
    """Wait until this loop's background indexing is done (tests, seeding, shutdown)."""
    queue = _loops.get(asyncio.get_running_loop())
    async with asyncio.timeout(timeout):
        while queue is not None and queue.running:
            await asyncio.gather(*queue.running.values(), return_exceptions=True)


async def build(room: str, high: int, progress: Callable[[int], None] | None = None) -> int:
    """Seal every unit of the room up to seq `high` not sealed yet, oldest first (a room
    stored before the index); `progress` gets the highest seq covered after each unit it
    seals, and `high` at the end.
    Return how many units were sealed. Resumable: sealed units are skipped."""
    sealed = 0
    top_span = LEVELS[_TOP]
    for number in range((high + 1) // top_span):
        if not await markers(room, [(_TOP, number)]):
            await seal(room, _TOP, number)
            sealed += 1
            if progress is not None:
                progress(bounds(_TOP, number)[1])
    rest = (high + 1) // top_span * top_span
    for number in range(unit_of(rest, 0), (high + 1) // LEVELS[0]):
        if not await markers(room, [(0, number)]):
            await seal(room, 0, number)
            sealed += 1
    if progress is not None and sealed:
        progress(high)
    return sealed


async def forget(room: str) -> None:
    """Drop the room's index (all its messages were deleted)."""
    await mongo_db()[SEARCH_TOKENS].delete_many({"room": room})
    await mongo_db()[SEARCH_UNITS].delete_many({"room": room})


async def ensure_indexes() -> None:
    """What MongoDB needs to drop a room's index by room (reads go by `_id`)."""
    for name in (SEARCH_TOKENS, SEARCH_UNITS):
        await mongo_db()[name].create_index(
            [("room", 1), ("level", 1), ("unit", 1)], name="room_unit"
        )
