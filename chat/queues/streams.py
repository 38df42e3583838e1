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
receipt is stale from then on. Counts, dead letters and redrive: chat.queues.figures.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from redis.exceptions import ResponseError

from chat.infra.clients import redis
from chat.infra.lua import Lua
from chat.queues import scripts

GROUP = "consumers"
CLIENT_ID_TTL_S = 24 * 3600
# Below the Redis client's 5 s socket timeout, or a quiet queue would look like a dead link.
MAX_BLOCK_MS = 4000
ACKED, STALE, UNKNOWN = "acked", "stale", "unknown"
_OUTCOMES = {1: ACKED, 0: STALE}


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


@dataclass(frozen=True)
class Outgoing:
    """A message to add: ready now or after `delay_ms`; a `client_id` makes a resend safe."""

    body: str
    delay_ms: int = 0
    client_id: str | None = None
    message_id: str | None = None


async def produce(
    keys: StreamKeys, item: Outgoing, *, meta_key: str | None = None
) -> tuple[str, bool] | None:
    """Add a message; return (id, created).

    A `client_id` seen before returns the id it got then and adds nothing. With `meta_key`,
    nothing is added (None) unless that key exists: the queue was deleted meanwhile.
    """
    return (await produce_many(keys, [item], meta_key=meta_key))[0]


async def produce_many(
    keys: StreamKeys, items: list[Outgoing], *, meta_key: str | None = None
) -> list[tuple[str, bool] | None]:
    """`produce` for each item, in order, in one script call."""
    extra = [meta_key or keys.key("meta")]
    args: list[str] = [GROUP, str(CLIENT_ID_TTL_S), "1" if meta_key else "0"]
    for item in items:
        cid = 0
        if item.client_id:
            extra.append(keys.key(f"cid:{item.client_id}"))
            cid = len(keys.core()) + len(extra)
        args += [item.message_id or new_id(), item.body, str(max(0, item.delay_ms)), str(cid)]
    core = keys.core()
    replies = await scripts.PRODUCE(redis(), len(core) + len(extra), *core, *extra, *args)
    if len(replies) == 1 and int(replies[0][1]) < 0:
        return [None] * len(items)
    return [(str(reply[0]), bool(int(reply[1]))) for reply in replies]


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
        reply = await scripts.RECEIVE(redis(), 7, *keys.core(), *args)
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await ensure_group(keys)
        reply = await scripts.RECEIVE(redis(), 7, *keys.core(), *args)
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
    script: Lua, keys: StreamKeys, message_id: str, receipt: str, *extra: str
) -> str:
    parts = split_receipt(receipt)
    if parts is None:
        return STALE
    entry, token = parts
    outcome = int(await script(redis(), 7, *keys.core(), GROUP, entry, token, message_id, *extra))
    return _OUTCOMES.get(outcome, UNKNOWN)


async def ack(keys: StreamKeys, *, message_id: str, receipt: str) -> str:
    """Delete a received message: ACKED, STALE (someone received it since) or UNKNOWN."""
    return (await ack_many(keys, [(message_id, receipt)]))[0]


async def ack_many(keys: StreamKeys, pairs: list[tuple[str, str]]) -> list[str]:
    """`ack` for each (message id, receipt), in order, in one script call."""
    outcomes: list[str | None] = []
    args: list[str] = []
    for message_id, receipt in pairs:
        parts = split_receipt(receipt)
        outcomes.append(None if parts else STALE)
        if parts:
            args += [*parts, message_id]
    replies = iter(await scripts.ACK(redis(), 7, *keys.core(), GROUP, *args) if args else [])
    return [outcome or _OUTCOMES.get(int(next(replies)), UNKNOWN) for outcome in outcomes]


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
    outcome = await scripts.SETTLE(
        redis(),
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


async def last_entry(keys: StreamKeys) -> str:
    """The newest entry's id ('0-0' when empty): what a blocking wait reads after."""
    rows = await redis().xrevrange(keys.stream, count=1)
    return str(rows[0][0]) if rows else "0-0"


async def wait_new(after: dict[str, str], *, timeout_ms: int) -> None:
    """Block until any of these streams gets an entry after the given id, or the timeout."""
    if timeout_ms > 0:
        await redis().xread(after, count=1, block=min(timeout_ms, MAX_BLOCK_MS))
