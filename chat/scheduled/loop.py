"""The scheduler loop: deliver what is due one claim at a time, sleep until the next is due.

It runs inside every daphne worker (started by `start_in_worker`) unless
CHAT_SCHEDULER_IN_WORKERS is off, and as `manage.py runscheduler`. Any number may run at
once: each claim is atomic in Redis, so each message is delivered by exactly one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from django.conf import settings
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.errors import ServiceError
from chat.infra import retryloop
from chat.infra.workerinfo import worker_id
from chat.messages import store
from chat.scheduled import rules as scheduling
from chat.scheduled import services as scheduled_services
from chat.scheduled import store as scheduler
from chat.scheduled import upgrade

log = logging.getLogger(__name__)

_FAILURES = (ServiceError, *retryloop.OUTAGES)


async def deliver_one(*, owner: str) -> scheduler.Idle | None:
    """Claim the earliest due message and deliver it; Idle (when to look again) if none is due."""
    claim = await scheduler.claim(lease_ms=settings.CHAT_SCHEDULER_LEASE_MS, owner=owner)
    if isinstance(claim, scheduler.Idle):
        return claim
    try:
        await scheduled_services.scheduled_message_deliver(claim=claim)
    except _FAILURES:
        retry = scheduling.retry_ms(claim.attempts, lease_ms=settings.CHAT_SCHEDULER_LEASE_MS)
        log.warning("scheduled message %s not delivered; retry in %d ms", claim.id, retry)
        # If this fails too, the lease runs out and any scheduler claims it again.
        with contextlib.suppress(RedisError, OSError):
            await scheduler.release(claim.id, retry_ms=retry)
        raise
    return None


async def run_scheduler(stop: asyncio.Event, *, owner: str | None = None) -> None:
    """Deliver due messages until `stop` is set; sleep until the next due time, or a wake."""
    owner = owner or worker_id()
    cap_s = settings.CHAT_SCHEDULER_MAX_SLEEP_S
    # The unique (room, client_id) index is what refuses a second copy: never deliver before
    # it is known to exist.
    if not await _ensure_indexes(stop):
        return
    try:
        await upgrade.migrate_legacy_keys()
    except (RedisError, OSError) as exc:  # the next start, or `manage.py upgradekeys`
        log.warning("scheduled messages under old key names not moved yet: %s", exc)
    wake = asyncio.Event()
    listener = asyncio.get_running_loop().create_task(
        scheduler.wait_for_wake(wake), name="chat-scheduler-wake"
    )

    async def step() -> float:
        # Cleared before claiming: a wake that arrives during the claim is not lost.
        wake.clear()
        idle = await deliver_one(owner=owner)
        if idle is None:
            return 0
        return scheduling.sleep_s(next_ms=idle.next_ms, now_ms=idle.now_ms, cap_s=cap_s)

    try:
        await retryloop.repeat(
            step,
            stop=stop,
            name=f"scheduler {owner}",
            log=log,
            outages=_FAILURES,
            recovered="delivering again",
            wake=wake,
        )
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _ensure_indexes(stop: asyncio.Event) -> bool:
    return await retryloop.until_done(
        store.ensure_indexes,
        stop=stop,
        waiting="scheduler waits for MongoDB",
        log=log,
        outages=(PyMongoError, OSError),
    )


class WorkerScheduler:
    """The loop inside a daphne worker: started with the reactor, stopped at shutdown."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop on the running event loop (call from the reactor's first tick)."""
        self.task = asyncio.get_running_loop().create_task(
            run_scheduler(self.stop), name="chat-scheduler"
        )
        self.task.add_done_callback(_log_crash)

    def request_stop(self) -> None:
        """Finish the delivery in progress, then stop claiming."""
        self.stop.set()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("scheduler loop stopped", exc_info=task.exception())
