"""Which integrator queues exist and their settings; the one module using their keys.

Keys:
    chat:queues                SET   every queue's name (the listing; its own slot)
    chat:queues:bound          SET   names of queues bound to a room (the room feed's list)
    chat:q:{<name>}:meta       HASH  visibility_s, max_receives, room, created_ms, fed_seq
    chat:q:{<name>}:...        the queue's stream core keys (chat.queues.streams)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chat.infra.clients import redis
from chat.queues import figures, rules, streams

NAMES = "chat:queues"
BOUND = "chat:queues:bound"

# Advance a bound queue's fed seq only from the value the feeder read: two feeders (two
# workers) racing over one room's messages enqueue each of them once. ARGV: expected seq,
# new seq, then (id, body) pairs; KEYS: the core keys, then meta.
_FEED = """
if redis.call('EXISTS', KEYS[8]) == 0 then return -1 end
if redis.call('HGET', KEYS[8], 'fed_seq') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[6], ARGV[i], 0)
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[i], 'b', ARGV[i + 1], 't', now)
end
redis.call('HSET', KEYS[8], 'fed_seq', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class QueueConfig:
    """One queue's settings."""

    name: str
    visibility_s: int
    max_receives: int
    room: str | None
    created_ms: int
    fed_seq: int = 0


def keys_of(name: str) -> streams.StreamKeys:
    """The queue's keys, hash-tagged by its name."""
    return streams.StreamKeys(prefix=f"chat:q:{{{name}}}")


def _meta(name: str) -> str:
    return keys_of(name).key("meta")


def meta_key(name: str) -> str:
    """The key whose presence says the queue exists (producers check it atomically)."""
    return _meta(name)


def _config(name: str, raw: dict[str, str]) -> QueueConfig:
    return QueueConfig(
        name=name,
        visibility_s=int(raw.get("visibility_s") or rules.DEFAULT_VISIBILITY_S),
        max_receives=int(raw.get("max_receives") or 0),
        room=raw.get("room") or None,
        created_ms=int(raw.get("created_ms") or 0),
        fed_seq=int(raw.get("fed_seq") or 0),
    )


async def get(name: str) -> QueueConfig | None:
    """The queue's settings, None if it does not exist."""
    raw = await redis().hgetall(_meta(name))
    return _config(name, raw) if raw else None


async def put(
    *, name: str, visibility_s: int, max_receives: int, room: str | None, fed_seq: int | None
) -> tuple[QueueConfig, bool]:
    """Create or update a queue; `fed_seq` (the room's seq at binding) only when it binds."""
    before = await get(name)
    fields: dict[str, str | int] = {
        "visibility_s": visibility_s,
        "max_receives": max_receives,
        "room": room or "",
    }
    if before is None:
        fields["created_ms"] = int(time.time() * 1000)
    if fed_seq is not None:
        fields["fed_seq"] = fed_seq
    await redis().hset(_meta(name), mapping=fields)
    await streams.ensure_group(keys_of(name))
    await redis().sadd(NAMES, name)
    if room:
        await redis().sadd(BOUND, name)
    else:
        await redis().srem(BOUND, name)
    config = await get(name)
    assert config is not None
    return config, before is None


async def delete(name: str) -> bool:
    """Remove the queue and every message in it; False if there was none."""
    existed = bool(await redis().exists(_meta(name)))
    await redis().srem(NAMES, name)
    await redis().srem(BOUND, name)
    await redis().delete(_meta(name))
    await figures.drop(keys_of(name))
    return existed


async def names() -> list[str]:
    """Every queue's name, sorted."""
    return sorted(await redis().smembers(NAMES))


async def bound() -> list[QueueConfig]:
    """The queues bound to a room, with the seq each was fed up to."""
    found = []
    for name in sorted(await redis().smembers(BOUND)):
        config = await get(name)
        if config is not None and config.room:
            found.append(config)
    return found


async def feed(name: str, *, expected_seq: int, new_seq: int, items: list[tuple[str, str]]) -> int:
    """Enqueue a room's messages up to `new_seq` if the queue is still fed up to
    `expected_seq`: 1 done, 0 someone else fed it first, -1 the queue is gone."""
    keys = keys_of(name)
    flat = [part for item in items for part in item]
    return int(
        await redis().eval(
            _FEED, 8, *keys.core(), _meta(name), str(expected_seq), str(new_seq), *flat
        )
    )
