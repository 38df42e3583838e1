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

from chat import scheduler, scheduling, services, store
from chat.errors import ServiceError
from chat.workerinfo import worker_id

log = logging.getLogger(__name__)

ERROR_BACKOFF_S = 0.5
MAX_ERROR_BACKOFF_S = 5.0
_FAILURES = (ServiceError, RedisError, PyMongoError, OSError, TimeoutError)


async def deliver_one(*, owner: str) -> scheduler.Idle | None:
    """Claim the earliest due message and deliver it; Idle (when to look again) if none is due."""
    claim = await scheduler.claim(lease_ms=settings.CHAT_SCHEDULER_LEASE_MS, owner=owner)
    if isinstance(claim, scheduler.Idle):
        return claim
    try:
        await services.scheduled_message_deliver(claim=claim)
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
    wake = asyncio.Event()
    listener = asyncio.get_running_loop().create_task(
        scheduler.wait_for_wake(wake), name="chat-scheduler-wake"
    )
    failures = 0
    try:
        while not stop.is_set():
            # Cleared before claiming: a wake that arrives during the claim is not lost.
            wake.clear()
            try:
                idle = await deliver_one(owner=owner)
            except Exception as exc:
                # Outages back off and retry, said once; a bug is logged in full, and the
                # loop keeps serving.
                failures += 1
                if not isinstance(exc, _FAILURES):
                    log.exception("scheduler %s failed", owner)
                elif failures == 1:
                    log.warning("scheduler %s: %s; retrying", owner, type(exc).__name__)
                await _sleep(_backoff(failures), stop)
                continue
            if failures:
                log.info("scheduler %s: delivering again", owner)
            failures = 0
            if idle is not None:
                wait = scheduling.sleep_s(next_ms=idle.next_ms, now_ms=idle.now_ms, cap_s=cap_s)
                await _sleep(wait, stop, wake)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _ensure_indexes(stop: asyncio.Event) -> bool:
    failures = 0
    while not stop.is_set():
        try:
            await store.ensure_indexes()
            return True
        except (PyMongoError, OSError) as exc:
            failures += 1
            if failures == 1:
                log.warning("scheduler waits for MongoDB: %s", type(exc).__name__)
            await _sleep(_backoff(failures), stop)
    return False


def _backoff(failures: int) -> float:
    return min(MAX_ERROR_BACKOFF_S, ERROR_BACKOFF_S * 2 ** min(failures - 1, 10))


async def _sleep(seconds: float, *events: asyncio.Event) -> None:
    """Sleep up to `seconds`, or until any of the events is set."""
    if seconds <= 0 or any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


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
