"""Scheduled messages in Redis: the one module that reads and writes their keys.

Keys (docs/scheduling.md says why each has the type it has):
    chat:{sched}:ids                    STRING  counter; ids in scheduling order
    chat:{sched}:due                    ZSET    member -> due epoch ms; what waits to be claimed
    chat:{sched}:leases                 ZSET    member -> lease expiry ms; claimed, not finished
    chat:{sched}:msg:<member>           HASH    room, author, account, text, client_id, due, seq..
    chat:{sched}:by:<room>:<holder>     ZSET    member -> due; one holder's pending messages
                                                (chat.identity.owners: an account, a guest's
                                                browser key, or a cookie-less guest's name)
    chat:{sched}:cid:<room>:<client_id> STRING  member; makes scheduling idempotent by client_id
    chat:sched:wake                     channel a new earliest due time, so sleepers wake early

Every state change is one Lua script (chat/scheduler/scripts.py), so it is atomic however
many schedulers run. Time is Redis's own (`TIME`), so servers with skewed clocks still agree
on what is due. The `{sched}` hash tag keeps every key in one Redis Cluster slot, as the
scripts need; on a cluster a first claim takes its room's seq in a second step, since the
room's counter lives in the room's slot (chat.messages.sequencing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from redis.exceptions import RedisError

from chat.infra.clients import is_cluster, redis, redis_pubsub
from chat.messages import sequencing
from chat.scheduled import rules as scheduling
from chat.scheduled import scripts
from chat.scheduled.rules import ScheduledMessage

log = logging.getLogger(__name__)

IDS = "chat:{sched}:ids"
DUE = "chat:{sched}:due"
LEASES = "chat:{sched}:leases"
MSG_PREFIX = "chat:{sched}:msg:"
BY_PREFIX = "chat:{sched}:by:"
CID_PREFIX = "chat:{sched}:cid:"
WAKE = "chat:sched:wake"
# How long a delivered message's hash and client_id key stay, so a late resend of the
# `schedule` request is recognised instead of scheduling a second copy.
KEEP_DONE_S = 24 * 3600
LIST_LIMIT = 200


@dataclass(frozen=True)
class Claim:
    """A message this scheduler holds the lease on, with the seq it must be stored under."""

    id: str
    room: str
    author: str
    text: str
    seq: int
    due_ms: int
    attempts: int
    # The scheduler's account when they were signed in (None: a guest, or scheduled before).
    account: str | None = None


@dataclass(frozen=True)
class Idle:
    """Nothing is due: `next_ms` is the next due time or lease expiry (None: nothing at all)."""

    now_ms: int
    next_ms: int | None


def _by_key(room: str, holder: str) -> str:
    return f"{BY_PREFIX}{room}:{holder}"


def _int_or_none(raw: str) -> int | None:
    return int(float(raw)) if raw else None


async def schedule(
    *,
    room: str,
    author: str,
    text: str,
    due_ms: int | None,
    client_id: str | None,
    holder: str,
    account: str | None = None,
) -> ScheduledMessage:
    """Store a message to deliver at `due_ms` (None or past: now, by Redis's clock).

    A repeat with the same `client_id` in the room returns the first one instead.
    """
    reply = await redis().eval(
        scripts.SCHEDULE,
        2,
        IDS,
        DUE,
        room,
        author,
        text,
        client_id or "",
        "" if due_ms is None else str(due_ms),
        MSG_PREFIX,
        BY_PREFIX,
        CID_PREFIX,
        WAKE,
        account or "",
        holder,
    )
    member, due = reply[1], int(reply[2])
    if reply[0] == "existing":
        existing = await get(scheduling.id_of(member))
        if existing is not None:
            return existing
    return ScheduledMessage(
        id=scheduling.id_of(member),
        room=room,
        author=author,
        text=text,
        due_ms=due,
        client_id=client_id,
    )


async def get(scheduled_id: str) -> ScheduledMessage | None:
    """One scheduled message by id, pending or recently delivered; None if unknown."""
    fields = await redis().hgetall(MSG_PREFIX + scheduling.member_of(scheduled_id))
    if not fields:
        return None
    return ScheduledMessage(
        id=scheduled_id,
        room=fields["room"],
        author=fields["author"],
        text=fields["text"],
        due_ms=int(fields["due"]),
        client_id=fields.get("client_id") or None,
    )


async def claim(*, lease_ms: int, owner: str) -> Claim | Idle:
    """Atomically take the earliest due message (or an expired lease) for `lease_ms`."""
    while True:
        reply = await redis().eval(
            scripts.CLAIM,
            2,
            DUE,
            LEASES,
            str(lease_ms),
            MSG_PREFIX,
            sequencing.COUNTER_PREFIX,
            owner,
            sequencing.COUNTER_SUFFIX,
            "0" if is_cluster() else "1",
        )
        kind = reply[0]
        if kind == "claimed":
            _, member, room, author, text, seq, due, attempts, account = reply
            if not seq:
                seq = await _take_seq(member, room)
            return Claim(
                id=scheduling.id_of(member),
                room=room,
                author=author,
                text=text,
                seq=int(seq),
                due_ms=int(due),
                attempts=int(attempts),
                account=account or None,
            )
        if kind == "idle":
            now, due, lease = int(reply[1]), _int_or_none(reply[2]), _int_or_none(reply[3])
            candidates = [t for t in (due, lease) if t is not None]
            return Idle(now_ms=now, next_ms=min(candidates) if candidates else None)
        if kind == "seed":
            # The room's counter is missing (Redis lost it): raise it to the store's highest
            # seq first, or the claim would hand out a seq already stored.
            await sequencing.seed_counter(reply[1], at_least=int(reply[2]))
        else:
            log.warning("scheduled message %s had no data; dropped from the queue", reply[1])


async def _take_seq(member: str, room: str) -> str:
    """On a cluster: the room's next seq for a first claim, kept unless one got there first.

    A claimer that dies between the two steps leaves its seq unused (seqs may skip, never
    repeat); two schedulers' first claims in one room may take seqs out of due order.
    """
    seq = await sequencing.next_seq(room)
    return str(await redis().eval(scripts.SET_SEQ, 1, MSG_PREFIX + member, seq))


async def finish(scheduled_id: str, *, message_id: str) -> None:
    """Mark a claimed message delivered: off the lease and the author's list, kept a day."""
    await redis().eval(
        scripts.FINISH,
        1,
        LEASES,
        scheduling.member_of(scheduled_id),
        MSG_PREFIX,
        BY_PREFIX,
        CID_PREFIX,
        message_id,
        str(KEEP_DONE_S),
    )


async def release(scheduled_id: str, *, retry_ms: int) -> None:
    """Give a claim back after a failed delivery; it is claimed again in `retry_ms`."""
    await redis().eval(
        scripts.RELEASE, 1, LEASES, scheduling.member_of(scheduled_id), str(retry_ms)
    )


async def cancel(*, scheduled_id: str, room: str, holder: str) -> str:
    """Cancel a pending message of this holder: 'cancelled', 'too_late' or 'not_found'."""
    return str(
        await redis().eval(
            scripts.CANCEL,
            1,
            DUE,
            scheduling.member_of(scheduled_id),
            room,
            holder,
            MSG_PREFIX,
            BY_PREFIX,
            CID_PREFIX,
        )
    )


async def pending(*, room: str, holder: str, limit: int = LIST_LIMIT) -> list[ScheduledMessage]:
    """The holder's messages not yet delivered in the room, earliest first."""
    members = await redis().zrange(_by_key(room, holder), 0, limit - 1)
    if not members:
        return []
    async with redis().pipeline(transaction=False) as pipe:
        for member in members:
            pipe.hmget(MSG_PREFIX + member, "text", "due", "client_id", "author")
        rows = await pipe.execute()
    return [
        ScheduledMessage(
            id=scheduling.id_of(member),
            room=room,
            author=author,
            text=text,
            due_ms=int(due),
            client_id=client_id or None,
        )
        for member, (text, due, client_id, author) in zip(members, rows, strict=True)
        if text is not None and due is not None
    ]


async def pending_count() -> int:
    """How many scheduled messages wait for delivery, claimed ones included."""
    async with redis().pipeline(transaction=False) as pipe:
        pipe.zcard(DUE)
        pipe.zcard(LEASES)
        due, leased = await pipe.execute()
    return int(due) + int(leased)


async def wait_for_wake(wake: asyncio.Event, *, retry_s: float = 1.0) -> None:
    """Set `wake` whenever a new earliest due time is announced; runs until cancelled."""
    while True:
        pubsub = None
        try:
            pubsub = await redis_pubsub()
            await pubsub.subscribe(WAKE)
            # A wake may have been missed while (re)subscribing: look once more.
            wake.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    wake.set()
        except (RedisError, OSError) as exc:
            log.debug("scheduler wake channel lost: %s", exc)
        finally:
            if pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
        await asyncio.sleep(retry_s)
