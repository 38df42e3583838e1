"""The stream core: a durable queue on a Redis stream with a consumer group, used by the
integrator queues (chat.queues.services) and the job queue (chat.jobs.queue) alike.

One queue's keys share a hash tag (`StreamKeys.prefix`), so each script runs on one Redis
Cluster slot:
    <prefix>:stream    STREAM  ready and in-flight messages {m: id, b: body, t: enqueued ms}
    <prefix>:delayed   ZSET    message id -> ms when it becomes ready (delays, retries)
    <prefix>:later     HASH    message id -> its body while delayed
    <prefix>:inflight  ZSET    stream entry -> ms its visibility ends
    <prefix>:receipts  HASH    stream entry -> the token of its latest receive
    <prefix>:receives  HASH    message id -> times received (present while the message lives)
    <prefix>:dead      STREAM  dead letters {m, b, t, n: receives, why}
    <prefix>:cid:<id>  STRING  a producer's client_id -> the message id it got (expires)

XREADGROUP gives a new entry to one consumer; a receive first takes over entries whose
visibility ended (XCLAIM), so an unacknowledged message comes back to any consumer. A
receipt is `<entry>.<token>`; each receive replaces the token, so the previous receiver's
receipt is stale from then on.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from redis.exceptions import ResponseError

from chat.infra.clients import redis
from chat.queues import scripts

GROUP = "consumers"
CLIENT_ID_TTL_S = 24 * 3600
# Below the Redis client's 5 s socket timeout, or a quiet queue would look like a dead link.
MAX_BLOCK_MS = 4000
ACKED, STALE, UNKNOWN = "acked", "stale", "unknown"


@dataclass(frozen=True)
class StreamKeys:
    """The keys of one queue; `prefix` carries the queue's hash tag, e.g. `chat:q:{orders}`."""

    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    @property
    def stream(self) -> str:
        return self.key("stream")

    def core(self) -> list[str]:
        """The keys every script takes, in the order chat.queues.scripts expects."""
        names = ("stream", "delayed", "later", "inflight", "receipts", "receives", "dead")
        return [self.key(name) for name in names]


@dataclass(frozen=True)
class Delivery:
    """One receive of one message."""

    entry: str
    id: str
    body: str
    enqueued_ms: int
    receives: int
    receipt: str


@dataclass(frozen=True)
class Received:
    """What one receive got, and when something may next be ready (ms; -1: nothing waits)."""

    deliveries: list[Delivery]
    wake_ms: int


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


def new_id() -> str:
    """A message id: 32 hex characters."""
    return secrets.token_hex(16)


def split_receipt(receipt: str) -> tuple[str, str] | None:
    """(entry, token) of a receipt, None if it cannot be one."""
    entry, dot, token = receipt.partition(".")
    if not dot or not token or not entry.replace("-", "").isdigit():
        return None
    return entry, token


async def ensure_group(keys: StreamKeys) -> None:
    """Create the stream and its consumer group if missing (idempotent)."""
    try:
        await redis().xgroup_create(keys.stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def produce(
    keys: StreamKeys,
    *,
    body: str,
    delay_ms: int = 0,
    client_id: str | None = None,
    message_id: str | None = None,
    enqueued_ms: int | None = None,
    meta_key: str | None = None,
) -> tuple[str, bool] | None:
    """Add a message (ready now, or after `delay_ms`); return (id, created).

    A `client_id` seen before returns the id it got then and adds nothing. With `meta_key`,
    nothing is added (None) unless that key exists: the queue was deleted meanwhile.
    """
    cid_key = keys.key(f"cid:{client_id}") if client_id else ""
    meta = meta_key or keys.key("meta")
    reply = await redis().eval(
        scripts.PRODUCE,
        9,
        *keys.core(),
        meta,
        cid_key or meta,
        GROUP,
        message_id or new_id(),
        body,
        str(max(0, delay_ms)),
        "" if enqueued_ms is None else str(enqueued_ms),
        cid_key,
        str(CLIENT_ID_TTL_S),
        "1" if meta_key else "0",
    )
    if int(reply[1]) < 0:
        return None
    return str(reply[0]), bool(int(reply[1]))


async def receive(
    keys: StreamKeys, *, consumer: str, count: int, visibility_ms: int, max_receives: int = 0
) -> Received:
    """Up to `count` messages nobody else holds: due ones first, then those whose visibility
    ended (a message received `max_receives` times goes to the dead letters instead)."""
    args = (
        GROUP,
        consumer,
        str(count),
        str(visibility_ms),
        str(max_receives),
        secrets.token_hex(6),
    )
    try:
        reply = await redis().eval(scripts.RECEIVE, 7, *keys.core(), *args)
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await ensure_group(keys)
        reply = await redis().eval(scripts.RECEIVE, 7, *keys.core(), *args)
    rows, wake = reply
    return Received(
        deliveries=[
            Delivery(
                entry=str(entry),
                id=str(message_id),
                body=str(body),
                enqueued_ms=int(enqueued),
                receives=int(receives),
                receipt=f"{entry}.{token}",
            )
            for entry, message_id, body, enqueued, receives, token in rows
        ],
        wake_ms=int(wake),
    )


async def receive_waiting(
    keys: StreamKeys,
    *,
    consumer: str,
    count: int,
    visibility_ms: int,
    max_receives: int = 0,
    wait_ms: int = 0,
) -> list[Delivery]:
    """`receive`, asking again until something is ready or `wait_ms` have passed.

    Polls (10 ms doubling to 250 ms, or sooner when a delayed message is due) rather than
    blocking a Redis connection per waiting receiver: the pool is shared by the process.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_ms / 1000
    pause = 0.01
    while True:
        got = await receive(
            keys,
            consumer=consumer,
            count=count,
            visibility_ms=visibility_ms,
            max_receives=max_receives,
        )
        remaining = deadline - loop.time()
        if got.deliveries or remaining <= 0:
            return got.deliveries
        nap = min(pause, remaining)
        if got.wake_ms >= 0:
            nap = min(nap, got.wake_ms / 1000 + 0.002)
        await asyncio.sleep(nap)
        pause = min(0.25, pause * 2)


async def _by_receipt(
    script: str, keys: StreamKeys, message_id: str, receipt: str, *extra: str
) -> str:
    parts = split_receipt(receipt)
    if parts is None:
        return STALE
    entry, token = parts
    outcome = int(
        await redis().eval(script, 7, *keys.core(), GROUP, entry, token, message_id, *extra)
    )
    return {1: ACKED, 0: STALE}.get(outcome, UNKNOWN)


async def ack(keys: StreamKeys, *, message_id: str, receipt: str) -> str:
    """Delete a received message: ACKED, STALE (someone received it since) or UNKNOWN."""
    return await _by_receipt(scripts.ACK, keys, message_id, receipt)


async def extend(keys: StreamKeys, *, message_id: str, receipt: str, visibility_ms: int) -> str:
    """Keep a received message invisible for `visibility_ms` from now: ACKED when done."""
    return await _by_receipt(scripts.EXTEND, keys, message_id, receipt, str(visibility_ms))


async def requeue(keys: StreamKeys, delivery: Delivery, *, delay_ms: int = 0) -> bool:
    """Hand a received message back to be received again (after `delay_ms`)."""
    return await _settle(keys, delivery, delay_ms=delay_ms, why="")


async def bury(
    keys: StreamKeys, delivery: Delivery, *, why: str, receives: int | None = None
) -> bool:
    """Move a received message to the dead letters, saying why (and how often it ran)."""
    return await _settle(keys, delivery, delay_ms=0, why=why or "dead", receives=receives)


async def _settle(
    keys: StreamKeys, delivery: Delivery, *, delay_ms: int, why: str, receives: int | None = None
) -> bool:
    _entry, token = delivery.receipt.split(".", 1)
    outcome = await redis().eval(
        scripts.SETTLE,
        7,
        *keys.core(),
        GROUP,
        delivery.entry,
        token,
        delivery.id,
        str(max(0, delay_ms)),
        why,
        "" if receives is None else str(receives),
    )
    return bool(int(outcome))


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
    return int(await redis().eval(scripts.REDRIVE, 7, *keys.core(), str(count)))


async def counts(keys: StreamKeys) -> Counts:
    """Ready, in flight, delayed and dead messages, and the oldest one's age."""
    length, in_flight, delayed, dead, oldest, now = await redis().eval(
        scripts.COUNTS, 7, *keys.core()
    )
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


async def last_entry(keys: StreamKeys) -> str:
    """The newest entry's id ('0-0' when empty): what a blocking wait reads after."""
    rows = await redis().xrevrange(keys.stream, count=1)
    return str(rows[0][0]) if rows else "0-0"


async def wait_new(after: dict[str, str], *, timeout_ms: int) -> None:
    """Block until any of these streams gets an entry after the given id, or the timeout."""
    if timeout_ms > 0:
        await redis().xread(after, count=1, block=min(timeout_ms, MAX_BLOCK_MS))
