"""Per-room sequence numbers: strictly increasing, never reused, even after Redis loses them."""

from __future__ import annotations

import asyncio
from functools import partial

from chat.infra.clients import redis
from chat.infra.singleflight import SingleFlight
from chat.messages import store
from chat.ops import metrics

# INCRBY only when the counter exists: a missing counter must be seeded from the store first,
# or seq would restart at 1 and collide with stored messages.
_INCRBY_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""

# Raise the counter to at least ARGV[1] (the highest seq the store ever held), then take
# ARGV[2] seqs at once; returns the last of them.
_RAISE_AND_INCRBY = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('INCRBY', KEYS[1], ARGV[2])
"""


# Store reads of a room's highest seq, shared by all who wait for one in this process.
_highest_reads: SingleFlight[str, int] = SingleFlight()


COUNTER_PREFIX, COUNTER_SUFFIX = "chat:seq:{", "}"


def counter_key(room: str) -> str:
    """Redis key of a room's sequence counter; `{room}` puts a room's keys in one cluster slot."""
    return f"{COUNTER_PREFIX}{room}{COUNTER_SUFFIX}"


def legacy_counter_key(room: str) -> str:
    """The counter's name before hash tags; a re-seed never goes below what it holds."""
    return f"chat:seq:{room}"


@metrics.redis_op("allocated_seq")
async def allocated(room: str) -> int:
    """The room's highest seq handed out (0 when the counter is gone): none stored is higher."""
    return int(await redis().get(counter_key(room)) or 0)


async def next_seq(room: str) -> int:
    """Allocate the next seq of the room."""
    return await next_seqs(room, 1)


@metrics.redis_op("next_seq")
async def next_seqs(room: str, count: int) -> int:
    """Allocate the room's next `count` consecutive seqs in one round trip; return the first."""
    if count < 1:
        raise ValueError("count must be at least 1")
    last = await redis().eval(_INCRBY_IF_EXISTS, 1, counter_key(room), count)
    if last is None:
        return await reserve_seqs(room, count)
    return int(last) - count + 1


async def reseed_and_next(room: str) -> int:
    """Bring the counter up to the store's highest seq, then allocate the next one."""
    return await reserve_seqs(room, 1)


async def reserve_seqs(room: str, count: int) -> int:
    """Allocate `count` consecutive seqs above anything stored; return the first one."""
    if count < 1:
        raise ValueError("count must be at least 1")
    highest = await _floor(room)
    last = int(await redis().eval(_RAISE_AND_INCRBY, 1, counter_key(room), highest, count))
    return last - count + 1


async def seed_counter(room: str, *, at_least: int = 0) -> int:
    """Raise the counter to the store's highest seq (and `at_least`) without taking one."""
    highest = max(at_least, await _floor(room))
    return int(await redis().eval(_RAISE_AND_INCRBY, 1, counter_key(room), highest, 0))


async def _floor(room: str) -> int:
    """What a missing counter restarts from: the store's highest seq, or the counter of an
    older version (upgraded hosts beside old ones, or messages it allocated not yet stored)."""
    stored, legacy = await asyncio.gather(
        _highest_stored(room), redis().get(legacy_counter_key(room))
    )
    return max(stored, int(legacy or 0))


async def _highest_stored(room: str) -> int:
    """The store's highest seq of the room, read once for everyone asking at the same time.

    A lost counter sends every sender of the room here at once; one shared read keeps that
    burst from becoming one scan of the store per sender. A read that started a little
    earlier is as good as a new one: a seq stored meanwhile is caught by DuplicateSeq.
    """
    return await _highest_reads.run(room, partial(store.highest_seq_ever, room))
