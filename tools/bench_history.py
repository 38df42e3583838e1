"""Benchmark: the first history page of a big room, server-side. Not a test.

    python tools/bench_history.py [--messages 1000000] [--room NAME] [--repeat 20] [--store]

With REDIS_URL/MONGO_URL pointing at the server's stores, it fills a room with `--messages`
messages (skipped when the room already holds that many: pass the same `--room` again),
then times, in this process, what a join reads (`selectors.join_view`: the newest page of
50 for the `history` event, and the welcome's `last_seq`): once with the room's history tail
dropped (`cold`: a store read, which fills the tail) and `--repeat` times after (`warm`: the
tail in Redis). `--store` also times the store's own answers, none from the tail: the newest
page as REST reads it, a page from the middle of the room (scroll-back), a gap fill of 200
from the middle, the highest seq (what re-seeding a lost counter reads), an export's
first chunk, a search page that finds nothing (the most it reads) and one of a common
phrase. It prints one JSON line with the median and the slowest of each, in milliseconds.

Server-side here means the read as the consumer awaits it, without the WebSocket: the time
from asking to holding the page. On the local FerretDB (SQLite backend) a query by room is a
scan of the whole collection; these reads are gets by key (docs/performance.md#store-shape).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from chat.infra.clients import close_all  # noqa: E402
from chat.messages import historytail, pages, seeding, selectors, sequencing, store  # noqa: E402

# A multiple of the search index's top unit (chat.messages.searchindex.LEVELS): each batch seals
# the units it completes from what it holds.
BATCH = 8192


async def fill(room: str, count: int) -> float:
    """Append messages until the room holds `count`; return the seconds it took."""
    began = time.monotonic()
    missing = count - await store.count_messages(room=room)
    if missing <= 0:
        return 0.0
    # One reservation for all: the store's highest seq is read once, not once per batch.
    first = await sequencing.reserve_seqs(room, missing)
    rng = random.Random(7)
    for offset in range(0, missing, BATCH):
        size = min(BATCH, missing - offset)
        batch = seeding.build_messages(
            room=room, first_seq=first + offset, count=size, ts=datetime.now(UTC), rng=rng
        )
        await store.insert_many(batch)
        print(f"  {offset + size}/{missing} stored", file=sys.stderr, flush=True)
    return time.monotonic() - began


async def timed(read: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, float]:
    """Median and slowest of `repeat` awaits of `read`, in milliseconds."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        await read()
        samples.append((time.perf_counter() - began) * 1000)
    return {"median_ms": round(statistics.median(samples), 2), "max_ms": round(max(samples), 2)}


async def store_reads(room: str, highest: int) -> dict[str, Any]:
    middle = highest // 2

    async def export_first_chunk() -> None:
        walk = pages.pages_after(room, after_seq=0, page_size=settings.CHAT_JOB_EXPORT_BATCH)
        await anext(walk)
        await walk.aclose()

    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "store_newest_page": lambda: selectors.history_page(room=room),
        "store_middle_page": lambda: selectors.history_page(room=room, before_seq=middle),
        "store_gap_fill_200": lambda: selectors.history_after(
            room=room, after_seq=middle, limit=200
        ),
        "store_highest_seq": lambda: pages.max_seq(room),
        "store_export_first_chunk": export_first_chunk,
        # A word no message holds: the page reads its whole bound before answering.
        "store_search_page": lambda: selectors.search(room=room, q="no such word anywhere"),
        # A phrase every fortieth message or so holds: a page of 20 matches near the newest.
        "store_search_common": lambda: selectors.search(room=room, q="DEPLOY went"),
    }
    return {name: await timed(read, 5) for name, read in reads.items()}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    await store.ensure_indexes()
    try:
        seeded_s = await fill(args.room, args.messages)
        await historytail.forget([args.room])
        cold = await timed(lambda: selectors.join_view(room=args.room), 1)
        _, page = await selectors.join_view(room=args.room)
        figures: dict[str, Any] = {
            "room": args.room,
            "seed_s": round(seeded_s, 1),
            "page_size": len(page.messages),
            "highest_seq": page.messages[-1].seq if page.messages else 0,
            "join_cold": cold,
            "join_warm": await timed(lambda: selectors.join_view(room=args.room), args.repeat),
        }
        if args.store:
            figures |= await store_reads(args.room, figures["highest_seq"])
        return figures
    finally:
        await close_all()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--room", default="bench-history")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--store", action="store_true", help="also time the store's reads")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
