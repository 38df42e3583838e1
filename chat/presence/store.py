"""Who is in which room, across workers: Redis sorted sets whose entries expire unless refreshed.

Per room, `chat:presence:{<room>}` maps each name to the latest expiry (epoch ms) of any of
its connections, and `chat:presence:{<room>}:n:<name>` maps each connection of that name to
its own expiry. Every worker refreshes its own connections' expiries on a heartbeat
(a third of the TTL) and sweeps names whose every connection expired, so the members of a
worker that died vanish within the TTL, without anyone having to notice the death. A name
counts once however many tabs it has open. `chat:presence:rooms` maps each room to its
latest member expiry, for the room list. Scripts keep each change atomic, so of several
workers exactly one reports a given join or leave. `chat:presence:{<room>}:counted` says a
room too big to list announced a count, so its members' lists need a fresh snapshot. A
room's keys share the hash tag `{<room>}`, so each script touches one Redis Cluster slot;
the rooms index lives elsewhere and is written beside the script, not by it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from redis.exceptions import RedisError

from chat.infra.clients import redis

log = logging.getLogger(__name__)

ROOMS_KEY = "chat:presence:rooms"
# Keys outlive the entries in them by this many TTLs, then Redis drops abandoned rooms.
KEY_TTLS = 4

# Every announced change takes the room's next version (KEYS[1]'s `:v` key), so a client
# applies a name's join or leave only when it is newer than what it knows of that name:
# announcements from two workers may reach it in either order.

# KEYS: names, conns-of-name, version. ARGV: name, conn, expiry, now, key ttl.
# Returns the version of the join to announce, or 0 when the name was present already.
_JOIN = """
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[1])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
if before and tonumber(before) > tonumber(ARGV[4]) then return 0 end
return redis.call('INCR', KEYS[3])
"""

# KEYS: names, conns-of-name, version. ARGV: name, conn, now.
# Returns the version of the leave to announce when this was the name's last live
# connection, else 0.
_LEAVE = """
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #top > 0 then
  redis.call('ZADD', KEYS[1], top[2], ARGV[1])
  return 0
end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('INCR', KEYS[3])
"""

# KEYS: names, version. ARGV: now, expiry, key ttl, conns-of-name key prefix,
# then (name, conn) pairs of this worker's connections in the room.
# Refreshes those connections, then removes names whose connections all expired.
# Returns {names back after having expired, names gone, version of those changes}.
_HEARTBEAT = """
local now, expiry = tonumber(ARGV[1]), ARGV[2]
local back = {}
for i = 5, #ARGV, 2 do
  local name, conn = ARGV[i], ARGV[i + 1]
  local before = redis.call('ZSCORE', KEYS[1], name)
  if not before or tonumber(before) <= now then table.insert(back, name) end
  redis.call('ZADD', ARGV[4] .. name, expiry, conn)
  redis.call('PEXPIRE', ARGV[4] .. name, ARGV[3])
  redis.call('ZADD', KEYS[1], 'GT', expiry, name)
end
local gone = {}
for _, name in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], name)
  redis.call('DEL', ARGV[4] .. name)
  table.insert(gone, name)
end
if #ARGV >= 5 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
local version = 0
if #back + #gone > 0 then version = redis.call('INCR', KEYS[2]) end
return {back, gone, version}
"""

# KEYS: names, version. ARGV: now, limit, a name to list if present ('' for none).
# Returns {up to `limit` live names (the given one among them), how many are live, version}.
_MEMBERS = """
local after = '(' .. ARGV[1]
local names = redis.call('ZRANGEBYSCORE', KEYS[1], after, '+inf', 'LIMIT', 0, ARGV[2])
local count = redis.call('ZCOUNT', KEYS[1], after, '+inf')
local mine = ARGV[3] ~= '' and redis.call('ZSCORE', KEYS[1], ARGV[3])
if mine and tonumber(mine) > tonumber(ARGV[1]) and #names > 0 then
  local listed = false
  for _, name in ipairs(names) do if name == ARGV[3] then listed = true end end
  if not listed then names[#names] = ARGV[3] end
end
return {names, count, tonumber(redis.call('GET', KEYS[2]) or '0')}
"""


def names_key(room: str) -> str:
    """Redis key of a room's present names (score: their latest connection's expiry)."""
    return f"chat:presence:{{{room}}}"


def _version_key(room: str) -> str:
    return f"chat:presence:{{{room}}}:v"


def _counted_key(room: str) -> str:
    return f"chat:presence:{{{room}}}:counted"


def _conns_prefix(room: str) -> str:
    return f"chat:presence:{{{room}}}:n:"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ttl_ms() -> int:
    return settings.CHAT_PRESENCE_TTL_MS


async def add(*, room: str, name: str, conn: str) -> int:
    """Mark a connection present; the version of its name's join, 0 if it was present."""
    now, ttl = _now_ms(), _ttl_ms()
    keys = (names_key(room), _conns_prefix(room) + name, _version_key(room))
    # The rooms index is in another slot: beside the script, in the same round trip.
    async with redis().pipeline(transaction=False) as pipe:
        pipe.eval(_JOIN, 3, *keys, name, conn, now + ttl, now, ttl * KEY_TTLS)
        pipe.zadd(ROOMS_KEY, {room: now + ttl}, gt=True)
        version, _ = await pipe.execute()
    return int(version)


async def remove(*, room: str, name: str, conn: str) -> int:
    """Drop a connection; the version of its name's leave if it was the last one, else 0."""
    keys = (names_key(room), _conns_prefix(room) + name, _version_key(room))
    return int(await redis().eval(_LEAVE, 3, *keys, name, conn, _now_ms()))


@dataclass(frozen=True)
class Beat:
    """What one heartbeat of a room changed: names present again, names gone, their version."""

    back: list[str]
    gone: list[str]
    version: int


async def heartbeat(*, room: str, conns: Iterable[tuple[str, str]]) -> Beat:
    """Refresh this worker's (name, conn) pairs in the room and sweep expired names."""
    now, ttl = _now_ms(), _ttl_ms()
    pairs = [part for pair in conns for part in pair]
    async with redis().pipeline(transaction=False) as pipe:
        pipe.eval(
            _HEARTBEAT,
            2,
            names_key(room),
            _version_key(room),
            now,
            now + ttl,
            ttl * KEY_TTLS,
            _conns_prefix(room),
            *pairs,
        )
        # The rooms index (another slot): rooms nobody refreshed within the TTL leave it.
        pipe.zremrangebyscore(ROOMS_KEY, "-inf", now)
        if pairs:
            pipe.zadd(ROOMS_KEY, {room: now + ttl}, gt=True)
        (back, gone, version), *_ = await pipe.execute()
    return Beat(back=list(back), gone=list(gone), version=int(version))


class Members(NamedTuple):
    """Who is present: `names` (all of them, or `limit` of them), `count` in all, `version`."""

    names: list[str]
    count: int
    version: int


async def members(room: str, *, limit: int = 1_000_000, include: str = "") -> Members:
    """The names present in the room, sorted case-insensitively; at most `limit` of them.

    A big room lists only `limit` names (`include` among them when it is present), so a
    join costs the same however many are there; `count` says how many there are.
    """
    names, count, version = await redis().eval(
        _MEMBERS, 2, names_key(room), _version_key(room), _now_ms(), limit, include
    )
    return Members(sorted(names, key=lambda n: (n.casefold(), n)), int(count), int(version))


# KEYS: names, counted flag. ARGV: now, list max, flag ttl ms.
# Returns {names present, 1 when the room only had counts announced since and can be listed}.
_ANNOUNCING = """
local present = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
if present > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[3])
  return {present, 0}
end
return {present, redis.call('DEL', KEYS[2])}
"""


async def announcing(room: str, *, list_max: int) -> tuple[int, bool]:
    """How many names are present, and whether the room is listable again after counts.

    Above `list_max` names the room's changes are announced as a count, which leaves the
    members' lists stale; the first announcement at or below it after that says so, once.
    """
    present, relist = await redis().eval(
        _ANNOUNCING,
        2,
        names_key(room),
        _counted_key(room),
        _now_ms(),
        list_max,
        _ttl_ms() * KEY_TTLS,
    )
    return int(present), bool(relist)


async def counts(rooms: list[str]) -> dict[str, int]:
    """How many names are present in each of these rooms (one round trip)."""
    now = _now_ms() + 1
    async with redis().pipeline(transaction=False) as pipe:
        for room in rooms:
            pipe.zcount(names_key(room), now, "+inf")
        found = await pipe.execute()
    return dict(zip(rooms, (int(n) for n in found), strict=True))


async def occupied_rooms(limit: int) -> list[str]:
    """Rooms where someone may be present (refreshed within the TTL), latest first."""
    return list(await redis().zrevrangebyscore(ROOMS_KEY, "+inf", _now_ms() + 1, 0, limit))


# ---- this process's connections and its heartbeat -----------------------------------------

# room -> {conn: name} for the connections this process serves.
_local: dict[str, dict[str, str]] = {}

BeatHandler = Callable[[str, Beat], Awaitable[None]]


def track(*, room: str, name: str, conn: str) -> None:
    """Remember a local connection, so the heartbeat (`beat_forever`) keeps it present."""
    _local.setdefault(room, {})[conn] = name


def local_count(room: str) -> int:
    """How many of this process's connections are in the room."""
    return len(_local.get(room, ()))


def untrack(*, room: str, conn: str) -> None:
    """Forget a local connection (it closed)."""
    conns = _local.get(room)
    if conns is not None:
        conns.pop(conn, None)
        if not conns:
            del _local[room]


async def beat_once(on_beat: BeatHandler) -> None:
    """Refresh and sweep every room this process has connections in; report what changed."""
    for room, conns in list(_local.items()):
        try:
            beat = await heartbeat(room=room, conns=[(n, c) for c, n in list(conns.items())])
        except RedisError as exc:
            log.info("presence heartbeat failed in room %s: %s", room, exc)
            continue
        if beat.back or beat.gone:
            await on_beat(room, beat)


async def beat_forever(on_beat: BeatHandler) -> None:
    """The worker's presence heartbeat, a third of the presence TTL apart."""
    while True:
        await asyncio.sleep(_ttl_ms() / 3000)
        try:
            await beat_once(on_beat)
        except Exception:  # the heartbeat must outlive any one failure
            log.exception("presence heartbeat failed")
