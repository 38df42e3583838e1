"""Figures of and operator actions on a stream core queue (chat.queues.streams): counts,
dead letters, redrive, deleting it."""

from __future__ import annotations

from dataclasses import dataclass

from chat.infra.clients import redis
from chat.queues import scripts
from chat.queues.streams import StreamKeys


@dataclass(frozen=True)
class DeadLetter:
    """A message that left the queue without being acknowledged."""

    entry: str
    id: str
    body: str
    enqueued_ms: int
    receives: int
    why: str


@dataclass(frozen=True)
class Counts:
    """One queue's figures at one moment."""

    ready: int
    in_flight: int
    delayed: int
    dead: int
    oldest_age_s: float | None


async def dead_letters(
    keys: StreamKeys, *, count: int = 100, newest_first: bool = False
) -> list[DeadLetter]:
    """The oldest (or newest) dead letters."""
    dead = keys.key("dead")
    rows = await (
        redis().xrevrange(dead, count=count) if newest_first else redis().xrange(dead, count=count)
    )
    return [
        DeadLetter(
            entry=str(entry),
            id=fields.get("m", ""),
            body=fields.get("b", ""),
            enqueued_ms=int(fields.get("t") or 0),
            receives=int(fields.get("n") or 0),
            why=fields.get("why", ""),
        )
        for entry, fields in rows
    ]


async def redrive(keys: StreamKeys, *, count: int) -> int:
    """Put up to `count` of the oldest dead letters back in the queue; return how many."""
    return int(await scripts.REDRIVE(redis(), 7, *keys.core(), str(count)))


async def counts(keys: StreamKeys) -> Counts:
    """Ready, in flight, delayed and dead messages, and the oldest one's age."""
    length, in_flight, delayed, dead, oldest, now = await scripts.COUNTS(redis(), 7, *keys.core())
    in_flight = int(in_flight)
    return Counts(
        ready=max(0, int(length) - in_flight),
        in_flight=in_flight,
        delayed=int(delayed),
        dead=int(dead),
        oldest_age_s=None if int(oldest) < 0 else max(0.0, (int(now) - int(oldest)) / 1000),
    )


async def drop(keys: StreamKeys) -> None:
    """Delete the queue's keys, its messages with them."""
    await redis().delete(*keys.core())
    cids = [key async for key in redis().scan_iter(match=keys.key("cid:*"), count=1000)]
    for start in range(0, len(cids), 500):
        await redis().delete(*cids[start : start + 500])
