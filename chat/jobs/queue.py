"""The job queue in Redis: a stream with a consumer group; the one module using its keys.

Keys (prefix CHAT_JOB_QUEUE, default `chat:jobs`):
    <prefix>:stream        STREAM  one entry {job: id} per run to do; group `workers`
    <prefix>:delayed       ZSET    job id -> epoch ms when its retry is due
    <prefix>:dead          STREAM  jobs that ran out of attempts {job, error, attempts}
    <prefix>:worker:<name> STRING  a worker's heartbeat (JSON), expires when it stops beating

An entry is delivered to one consumer (XREADGROUP) and stays in its pending list until
acked; one not acked within the visibility timeout is taken over by another (XAUTOCLAIM).
A finished entry is acked and deleted, so the stream's length is what waits plus what runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from redis.exceptions import ResponseError

from chat.infra.clients import redis

GROUP = "workers"
DEAD_MAXLEN = 10_000
# Below the Redis client's 5 s socket timeout, or a quiet queue would look like a dead link.
MAX_BLOCK_MS = 4000

# Keep a claim alive only while this consumer still holds it: a plain XCLAIM would take the
# entry back from a worker that reclaimed it meanwhile.
_TOUCH = """
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #mine == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""
_RETRY = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
return 1
"""
_PROMOTE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'job', job)
  redis.call('ZREM', KEYS[2], job)
end
return #due
"""
_DEAD = """
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'job', ARGV[3], 'error', ARGV[4],
  'attempts', ARGV[5])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""
_RELEASE = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
"""
_FORGET = """
local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #held > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Entry:
    """One delivery of a job to a consumer."""

    id: str
    job_id: str


@dataclass(frozen=True)
class WorkerSeen:
    """A worker whose heartbeat has not expired."""

    name: str
    host: str
    pid: int
    concurrency: int
    busy: int
    started_at: str


@dataclass(frozen=True)
class QueueStatus:
    """The queue's figures at one moment."""

    waiting: int
    in_flight: int
    delayed: int
    dead: int
    workers: list[WorkerSeen]


def key(name: str) -> str:
    """A queue key under the configured prefix."""
    return f"{settings.CHAT_JOB_QUEUE}:{name}"


def _stream() -> str:
    return key("stream")


async def ensure_group() -> None:
    """Create the stream and its consumer group if missing; entries added before count too."""
    try:
        await redis().xgroup_create(_stream(), GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def enqueue(job_id: str) -> str:
    """Add one run of the job to the queue; return the entry id (the producer's receipt)."""
    return str(await redis().xadd(_stream(), {"job": job_id}))


def _entries(rows: list[Any]) -> list[Entry]:
    # XAUTOCLAIM reports an entry deleted meanwhile with no fields; there is nothing to run.
    return [Entry(id=entry_id, job_id=fields["job"]) for entry_id, fields in rows if fields]


async def read_new(consumer: str, *, block_ms: int) -> Entry | None:
    """The next entry nobody got yet, waiting up to `block_ms` for one."""
    try:
        reply = await redis().xreadgroup(
            GROUP, consumer, {_stream(): ">"}, count=1, block=min(max(1, block_ms), MAX_BLOCK_MS)
        )
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await ensure_group()
        return None
    for _stream_name, rows in reply or []:
        entries = _entries(rows)
        if entries:
            return entries[0]
    return None


async def reclaim(consumer: str, *, min_idle_ms: int) -> Entry | None:
    """Take over one entry another consumer has held without a sign of life for `min_idle_ms`."""
    try:
        reply = await redis().xautoclaim(_stream(), GROUP, consumer, min_idle_ms, "0-0", count=1)
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await ensure_group()
        return None
    entries = _entries(reply[1])
    return entries[0] if entries else None


async def touch(entry: Entry, *, consumer: str) -> bool:
    """Reset the entry's idle time while this consumer runs it; False if it lost the entry."""
    return bool(await redis().eval(_TOUCH, 1, _stream(), GROUP, consumer, entry.id))


async def finish(entry: Entry) -> None:
    """Ack and delete a handled entry."""
    async with redis().pipeline(transaction=True) as pipe:
        pipe.xack(_stream(), GROUP, entry.id)
        pipe.xdel(_stream(), entry.id)
        await pipe.execute()


async def retry(entry: Entry, *, delay_ms: int) -> None:
    """Ack the failed entry and queue the job again in `delay_ms` (by Redis's clock)."""
    await redis().eval(
        _RETRY, 2, _stream(), key("delayed"), GROUP, entry.id, entry.job_id, str(delay_ms)
    )


async def promote_due() -> int:
    """Move retries that are due back into the stream; return how many moved."""
    return int(await redis().eval(_PROMOTE, 2, _stream(), key("delayed")))


async def dead_letter(entry: Entry, *, error: str, attempts: int) -> None:
    """Ack the entry and record the job in the dead-letter stream."""
    await redis().eval(
        _DEAD,
        2,
        _stream(),
        key("dead"),
        GROUP,
        entry.id,
        entry.job_id,
        error,
        str(attempts),
        str(DEAD_MAXLEN),
    )


async def release(entry: Entry) -> str:
    """Hand an interrupted entry back: acked here and queued again for any worker."""
    return str(await redis().eval(_RELEASE, 1, _stream(), GROUP, entry.id, entry.job_id))


async def dead_letters(*, count: int = 100) -> list[dict[str, str]]:
    """The newest dead-letter records, newest first."""
    rows = await redis().xrevrange(key("dead"), count=count)
    return [{"entry": entry_id, **fields} for entry_id, fields in rows]


async def heartbeat(name: str, *, info: dict[str, Any], ttl_ms: int) -> None:
    """Say this worker is alive for the next `ttl_ms`."""
    await redis().set(key(f"worker:{name}"), json.dumps(info), px=ttl_ms)


async def forget_worker(name: str, *, consumers: list[str]) -> None:
    """Remove a stopping worker's heartbeat, and its consumers that hold no entries."""
    await redis().delete(key(f"worker:{name}"))
    for consumer in consumers:
        try:
            await redis().eval(_FORGET, 1, _stream(), GROUP, consumer)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise


async def _workers() -> list[WorkerSeen]:
    names = sorted([name async for name in redis().scan_iter(match=key("worker:*"), count=500)])
    if not names:
        return []
    seen = []
    for raw in await redis().mget(names):
        if raw is None:
            continue  # expired between the scan and the read
        info = json.loads(raw)
        seen.append(
            WorkerSeen(
                name=str(info["name"]),
                host=str(info.get("host", "")),
                pid=int(info.get("pid", 0)),
                concurrency=int(info.get("concurrency", 1)),
                busy=int(info.get("busy", 0)),
                started_at=str(info.get("started_at", "")),
            )
        )
    return seen


async def status() -> QueueStatus:
    """Queue depth, entries in flight, retries waiting, dead letters, live workers."""
    async with redis().pipeline(transaction=False) as pipe:
        pipe.xlen(_stream())
        pipe.zcard(key("delayed"))
        pipe.xlen(key("dead"))
        length, delayed, dead = await pipe.execute()
    try:
        in_flight = int((await redis().xpending(_stream(), GROUP))["pending"])
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        in_flight = 0
    return QueueStatus(
        waiting=max(0, int(length) - in_flight),
        in_flight=in_flight,
        delayed=int(delayed),
        dead=int(dead),
        workers=await _workers(),
    )
