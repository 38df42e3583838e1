"""Connection limits: per worker (in process), per client address (in Redis, across workers).

Each open connection is a member of its address's sorted set, scored with a lease expiry
that its worker renews while the connection lives. A worker that dies stops renewing, so
its connections fall out of the count within one lease, and every key expires by itself.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from chat.infra.clients import redis
from chat.ops import metrics

log = logging.getLogger(__name__)

LEASE_MS = 30_000
RENEW_EVERY_S = LEASE_MS / 1000 / 3
RENEW_BATCH = 500  # connections per script call, so no single call blocks Redis for long


def open_key(address: str) -> str:
    """Redis key of an address's open connections; `{address}` keeps its keys in one slot."""
    return f"chat:conn:{{{address}}}:open"


def rate_key(address: str) -> str:
    """Redis key counting an address's new connections in the current second."""
    return f"chat:conn:{{{address}}}:rate"


# KEYS: open set, new-connection counter. ARGV: conn id, max open, max new per second, lease.
# 'ok', 'too_many_connections' or 'connecting_too_fast'; a refused attempt still counts
# against the rate, so a client hammering the server stays refused.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max_open, max_new, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if max_new > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('PEXPIRE', KEYS[2], 1000) end
  if n > max_new then return 'connecting_too_fast' end
end
if max_open > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= max_open then return 'too_many_connections' end
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease)
end
return 'ok'
"""

# KEYS: one address's open set. ARGV: lease, then that address's conn ids.
_RENEW = """
local t = redis.call('TIME')
local lease = tonumber(ARGV[1])
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + lease
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], lease)
return #ARGV - 1
"""

MESSAGES = {
    "server_full": "this server is at its connection limit; trying again shortly",
    "too_many_connections": "too many connections from your address; close some and try again",
    "connecting_too_fast": "too many new connections from your address; trying again shortly",
}


@dataclass
class _Worker:
    """This process's open connections: conn id -> client address."""

    open: dict[str, str] = field(default_factory=dict)


_workers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Worker] = (
    weakref.WeakKeyDictionary()
)


def _worker() -> _Worker:
    loop = asyncio.get_running_loop()
    worker = _workers.get(loop)
    if worker is None:
        worker = _workers[loop] = _Worker()
    return worker


@metrics.redis_op("admit")
async def admit_address(
    conn_id: str, address: str, *, per_address: int, new_per_s: int, lease_ms: int = LEASE_MS
) -> str:
    """The per-address verdict in Redis: 'ok' (and counted) or the refusing error code."""
    return str(
        await redis().eval(
            _ADMIT,
            2,
            open_key(address),
            rate_key(address),
            conn_id,
            per_address,
            new_per_s,
            lease_ms,
        )
    )


async def admit(
    conn_id: str, address: str, *, per_worker: int, per_address: int, new_per_s: int
) -> str | None:
    """Count a new connection in; None when admitted, else the error code refusing it.

    With Redis unreachable only the per-worker limit holds: refusing everyone would turn a
    Redis outage into a chat outage.
    """
    worker = _worker()
    if per_worker > 0 and len(worker.open) >= per_worker:
        return "server_full"
    if per_address > 0 or new_per_s > 0:
        try:
            verdict = await admit_address(
                conn_id, address, per_address=per_address, new_per_s=new_per_s
            )
        except RedisError as exc:
            log.warning("connection limits not checked (Redis): %s", exc)
            verdict = "ok"
        if verdict != "ok":
            return verdict
    worker.open[conn_id] = address
    return None


async def release(conn_id: str) -> None:
    """A connection closed: it no longer counts against its address or this worker."""
    address = _worker().open.pop(conn_id, None)
    if address is None:
        return
    try:
        await redis().zrem(open_key(address), conn_id)
    except RedisError as exc:
        # Its lease runs out instead.
        log.info("connection %s not released in Redis: %s", conn_id, exc)


async def renew_forever() -> None:
    """The worker's lease renewal: its open connections keep counting while it lives."""
    worker = _worker()
    while True:
        await asyncio.sleep(RENEW_EVERY_S)
        try:
            await renew(worker.open)
        except RedisError as exc:
            log.warning("connection leases not renewed: %s", exc)


async def renew(open_now: dict[str, str]) -> None:
    """Renew the leases of these connections (conn id -> address), one script per address.

    Each script keeps to one address's key (one cluster slot); a pipeline sends RENEW_BATCH
    connections' worth at a time, so no single round trip blocks Redis for long.
    """
    by_address: dict[str, list[str]] = {}
    for conn_id, address in list(open_now.items()):
        by_address.setdefault(address, []).append(conn_id)
    calls = [
        (address, ids[start : start + RENEW_BATCH])
        for address, ids in by_address.items()
        for start in range(0, len(ids), RENEW_BATCH)
    ]
    while calls:
        batch, size = [], 0
        while calls and size < RENEW_BATCH:
            call = calls.pop()
            batch.append(call)
            size += len(call[1])
        async with redis().pipeline(transaction=False) as pipe:
            for address, ids in batch:
                pipe.eval(_RENEW, 1, open_key(address), LEASE_MS, *ids)
            await pipe.execute()
