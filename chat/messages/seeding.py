"""Fill rooms with generated messages (load tests, demos, admin work) with real seqs."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from chat.messages import historytail, sequencing, store
from chat.messages.documents import message_id
from chat.protocol import MessageOut

BATCH_SIZE = 1000
AUTHORS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
_OPENINGS = (
    "hi all,",
    "quick question:",
    "fyi",
    "agreed,",
    "not sure, but",
    "heads up:",
    "lol",
    "ok so",
)
_BODIES = (
    "the deploy went out fine",
    "who is on call this week?",
    "lunch at noon?",
    "the tests are green again",
    "can someone review my change",
    "the build cache is cold again",
    "meeting moved to 3pm",
    "coffee machine is fixed",
    "did anyone see the latency graph",
    "let's ship it",
)
_ENDINGS = ("", "", "!", " :)", " (see thread)", "?")

Progress = Callable[[str, int, int], None]
"""Called after each batch with (room, messages written so far, messages wanted)."""


def room_names(prefix: str, count: int) -> list[str]:
    """The rooms `--rooms N` seeds: prefix-1 .. prefix-N."""
    return [f"{prefix}-{i}" for i in range(1, count + 1)]


def _now() -> datetime:
    # MongoDB keeps milliseconds; truncate so stored and returned messages agree.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def build_messages(
    *, room: str, first_seq: int, count: int, ts: datetime, rng: random.Random
) -> list[MessageOut]:
    """`count` messages with seqs first_seq.., random authors and varied text."""
    return [
        MessageOut(
            id=message_id(room, seq),
            seq=seq,
            room=room,
            author=rng.choice(AUTHORS),
            text=f"{rng.choice(_OPENINGS)} {rng.choice(_BODIES)}{rng.choice(_ENDINGS)}",
            ts=ts,
        )
        for seq in range(first_seq, first_seq + count)
    ]


async def seed_room(
    *, room: str, count: int, batch_size: int = BATCH_SIZE, progress: Progress | None = None
) -> int:
    """Append `count` messages to the room in batches; return how many were written."""
    rng = random.Random()
    written = 0
    while written < count:
        size = min(batch_size, count - written)
        # Reserving per batch: an interrupted run wastes at most one batch of seqs.
        first = await sequencing.reserve_seqs(room, size)
        batch = build_messages(room=room, first_seq=first, count=size, ts=_now(), rng=rng)
        written += await store.insert_many(batch)
        if progress is not None:
            progress(room, written, count)
    await historytail.forget([room])  # it holds the newest messages, and these are newer
    return written


async def seed_messages(
    *,
    rooms: Sequence[str],
    per_room: int,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Seed `per_room` messages into each room; return messages written per room."""
    await store.ensure_indexes()
    return {
        room: await seed_room(room=room, count=per_room, batch_size=batch_size, progress=progress)
        for room in rooms
    }
