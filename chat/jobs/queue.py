"""The job queue in Redis: one stream core queue (chat.queues.streams) per priority; the one
module using the job keys.

Keys, all under the hash tag of CHAT_JOB_QUEUE (default `{chat:jobs}`, one Cluster slot):
    {prefix}:<priority>:...   the stream core keys of the high, normal and low queues
                              (message id = the job id; body = the job id)
    {prefix}:worker:<name>    STRING  a worker's heartbeat (JSON), expires when it stops beating
    {prefix}:notify           ZSET    finished job id -> ms its `job` event is due again
    {prefix}:notify:tries     HASH    finished job id -> sends so far
    {prefix}:adopting         STRING  held while a worker moves runs queued by the version
                              before priorities (keys without the tag) into `normal`

A run to do is received by one worker slot and stays invisible to the others while the slot
keeps extending its visibility; one whose worker dies comes back after CHAT_JOB_VISIBILITY_MS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from redis.exceptions import ResponseError

from chat.infra.clients import redis
from chat.jobs import priorities
from chat.jobs.priorities import Priority
from chat.queues import figures, streams

# Keep a consumer only while it holds nothing (a stopping worker's slots).
_FORGET = """
local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #held > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Entry:
    """One delivery of a job to a worker slot."""

    job_id: str
    priority: Priority
    delivery: streams.Delivery

    @property
    def id(self) -> str:
        return self.delivery.entry


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
    """The queue's figures at one moment (all priorities together, and waiting by priority)."""

    waiting: int
    in_flight: int
    delayed: int
    dead: int
    workers: list[WorkerSeen]
    by_priority: dict[str, int]


def key(name: str) -> str:
    """A job key under the configured prefix, hash-tagged."""
    return f"{{{settings.CHAT_JOB_QUEUE}}}:{name}"


def keys(priority: Priority) -> streams.StreamKeys:
    """The stream core keys of one priority's queue."""
    return streams.StreamKeys(prefix=key(priority))


async def ensure_group() -> None:
    """Create each priority's stream and consumer group if missing, and adopt what the
    version before priorities queued."""
    for priority in priorities.PRIORITIES:
        await streams.ensure_group(keys(priority))
    await _adopt_untagged()


async def _adopt_untagged() -> int:
    """Queue again, as normal, the runs waiting under the keys without a hash tag
    (`<prefix>:stream`, `<prefix>:delayed`); one worker does it (a lock for a minute)."""
    old_stream, old_delayed = (
        f"{settings.CHAT_JOB_QUEUE}:stream",
        f"{settings.CHAT_JOB_QUEUE}:delayed",
    )
    if not await redis().exists(old_stream, old_delayed):
        return 0
    if not await redis().set(key("adopting"), "1", nx=True, ex=60):
        return 0
    rows = await redis().xrange(old_stream)
    waiting = [fields["job"] for _, fields in rows if fields.get("job")]
    waiting += await redis().zrange(old_delayed, 0, -1)
    for job_id in dict.fromkeys(waiting):
        await enqueue(job_id)
    await redis().delete(old_stream, old_delayed)
    return len(waiting)


async def enqueue(job_id: str, *, priority: Priority = priorities.DEFAULT) -> str:
    """Add one run of the job to its priority's queue; return the job id (the receipt)."""
    await streams.produce(keys(priority), streams.Outgoing(body=job_id, message_id=job_id))
    return job_id


async def take(consumer: str, *, turn: int) -> tuple[Entry | None, int]:
    """The next job by the weighted round (chat.jobs.priorities), a due retry or a run whose
    worker went silent included; else None and in how many ms something is due (-1: none)."""
    wake = -1
    for priority in priorities.order(turn):
        got = await streams.receive(
            keys(priority),
            consumer=consumer,
            count=1,
            visibility_ms=settings.CHAT_JOB_VISIBILITY_MS,
        )
        if got.deliveries:
            delivery = got.deliveries[0]
            return Entry(job_id=delivery.body, priority=priority, delivery=delivery), -1
        if got.wake_ms >= 0 and (wake < 0 or got.wake_ms < wake):
            wake = got.wake_ms
    return None, wake


async def last_entries() -> dict[str, str]:
    """Each priority stream's newest entry: a wait for new work reads after these."""
    return {keys(p).stream: await streams.last_entry(keys(p)) for p in priorities.PRIORITIES}


async def wait_new(after: dict[str, str], *, timeout_ms: int) -> None:
    """Block until a job is enqueued after `after`, or the timeout."""
    await streams.wait_new(after, timeout_ms=timeout_ms)


async def touch(entry: Entry, *, consumer: str) -> bool:
    """Extend the entry's visibility while its slot runs it; False if it lost the entry."""
    outcome = await streams.extend(
        keys(entry.priority),
        message_id=entry.job_id,
        receipt=entry.delivery.receipt,
        visibility_ms=settings.CHAT_JOB_VISIBILITY_MS,
    )
    return outcome == streams.ACKED


async def finish(entry: Entry) -> None:
    """Ack and delete a handled entry."""
    await streams.ack(keys(entry.priority), message_id=entry.job_id, receipt=entry.delivery.receipt)


async def retry(entry: Entry, *, delay_ms: int) -> None:
    """Hand the failed run back, due again in `delay_ms` (by Redis's clock)."""
    await streams.requeue(keys(entry.priority), entry.delivery, delay_ms=delay_ms)


async def dead_letter(entry: Entry, *, error: str, attempts: int) -> None:
    """Move the entry to its priority's dead letters with the error and attempts."""
    await streams.bury(keys(entry.priority), entry.delivery, why=error, receives=attempts)


async def release(entry: Entry) -> str:
    """Hand an interrupted entry back: queued again at once for any worker."""
    await streams.requeue(keys(entry.priority), entry.delivery)
    return entry.job_id


async def dead_letters(*, count: int = 100) -> list[dict[str, str]]:
    """The newest dead-letter records of every priority, newest first."""
    rows = []
    for priority in priorities.PRIORITIES:
        for dead in await figures.dead_letters(keys(priority), count=count, newest_first=True):
            rows.append(
                {
                    "entry": dead.entry,
                    "job": dead.id,
                    "error": dead.why,
                    "attempts": str(dead.receives),
                    "priority": priority,
                }
            )
    rows.sort(key=lambda row: tuple(int(part) for part in row["entry"].split("-")), reverse=True)
    return rows[:count]


async def heartbeat(name: str, *, info: dict[str, Any], ttl_ms: int) -> None:
    """Say this worker is alive for the next `ttl_ms`."""
    await redis().set(key(f"worker:{name}"), json.dumps(info), px=ttl_ms)


async def forget_worker(name: str, *, consumers: list[str]) -> None:
    """Remove a stopping worker's heartbeat, and its consumers that hold no entries."""
    await redis().delete(key(f"worker:{name}"))
    for consumer in consumers:
        for priority in priorities.PRIORITIES:
            try:
                await redis().eval(_FORGET, 1, keys(priority).stream, streams.GROUP, consumer)
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
    """Jobs waiting (by priority), in flight, retries waiting, dead letters, live workers."""
    counts = {p: await figures.counts(keys(p)) for p in priorities.PRIORITIES}
    return QueueStatus(
        waiting=sum(c.ready for c in counts.values()),
        in_flight=sum(c.in_flight for c in counts.values()),
        delayed=sum(c.delayed for c in counts.values()),
        dead=sum(c.dead for c in counts.values()),
        workers=await _workers(),
        by_priority={p: c.ready for p, c in counts.items()},
    )


async def notify_later(job_id: str, *, delay_ms: int, tries: int) -> None:
    """Send the finished job's event again in `delay_ms`; `tries` sends so far."""
    async with redis().pipeline(transaction=True) as pipe:
        pipe.hset(key("notify:tries"), job_id, tries)
        pipe.zadd(key("notify"), {job_id: 0})
        await pipe.execute()
    await redis().eval(_DUE_IN, 1, key("notify"), job_id, str(delay_ms))


async def notify_stop(job_id: str) -> None:
    """No more sends of the job's event (seen, or out of tries)."""
    async with redis().pipeline(transaction=True) as pipe:
        pipe.zrem(key("notify"), job_id)
        pipe.hdel(key("notify:tries"), job_id)
        await pipe.execute()


async def notify_claim(*, lease_ms: int) -> tuple[str, int] | None:
    """One job whose event is due again, leased to this caller for `lease_ms` (job, tries)."""
    reply = await redis().eval(_CLAIM_DUE, 2, key("notify"), key("notify:tries"), str(lease_ms))
    return (str(reply[0]), int(reply[1])) if reply else None


_DUE_IN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
_CLAIM_DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #due == 0 then return false end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), due[1])
return {due[1], tonumber(redis.call('HGET', KEYS[2], due[1]) or '0')}
"""
