"""The job worker loop: claim one queue entry at a time, run its handler, settle the outcome.

`run_worker` runs CHAT_JOB_CONCURRENCY slots, each a thin loop over `work_one`, and beats a
heartbeat while it runs. Any number of workers may run: the consumer group gives each entry
to one of them, and the attempt counter in the job record lets only the latest run finish it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from datetime import UTC, datetime

from django.conf import settings

from chat.infra import retryloop
from chat.jobs import kinds, queue, records, service
from chat.jobs.formats import backoff_ms, error_text

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
NOTICE_POLL_S = 0.25


def default_name() -> str:
    """`jobs-<host>-<pid>`: unique per process, readable on the status page."""
    return f"jobs-{socket.gethostname()}-{os.getpid()}"


async def work_one(
    *,
    consumer: str,
    stop: asyncio.Event | None = None,
    busy: set[str] | None = None,
    turn: int = 0,
) -> bool:
    """Run one job: by priority (chat.jobs.priorities, take number `turn`), a due retry or a
    run whose worker went silent included.

    Returns False when there was nothing to do within the poll time.
    """
    after = await queue.last_entries()
    entry, wake_ms = await queue.take(consumer, turn=turn)
    if entry is None:
        poll = settings.CHAT_JOB_POLL_MS
        await queue.wait_new(after, timeout_ms=poll if wake_ms < 0 else min(poll, wake_ms + 1))
        return False
    if busy is not None:
        busy.add(consumer)
    try:
        await run_entry(entry, consumer=consumer, stop=stop)
    finally:
        if busy is not None:
            busy.discard(consumer)
    return True


async def run_entry(
    entry: queue.Entry, *, consumer: str, stop: asyncio.Event | None = None
) -> None:
    """Run the entry's job once and settle it: completed, retried later, failed, or released."""
    job = await records.start_attempt(entry.job_id, worker=consumer)
    if job is None:
        # Finished already (a run that completed but died before its ack) or unknown.
        await queue.finish(entry)
        return
    handler = kinds.handler_for(job.kind)
    if handler is None:
        await _give_up(entry, job, f"no handler for job kind {job.kind!r}")
        return
    if job.attempts > settings.CHAT_JOB_MAX_ATTEMPTS:
        # Every earlier run died without settling (the job kills its workers).
        await _give_up(entry, job, job.error or "the worker running it stopped every time")
        return
    log.info("job %s attempt %d started by %s", job.id, job.attempts, consumer)
    run = asyncio.ensure_future(handler(job, kinds.RunContext(job=job)))
    keeper = asyncio.ensure_future(_keep_claim(entry, consumer))
    try:
        finished = await _wait_for(run, stop)
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    if not finished:
        await _release(entry, job)
        return
    try:
        result = run.result()
    except Exception as exc:
        await _settle_failure(entry, job, error_text(exc))
        return
    await service.job_complete(job=job, result=result)
    await queue.finish(entry)


async def _wait_for(run: asyncio.Future[records.ResultInfo], stop: asyncio.Event | None) -> bool:
    """Wait for the run; once `stop` is set give it the grace time, then cancel it."""
    if stop is not None and not stop.is_set():
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    if stop is None:
        await asyncio.wait({run})
    if not run.done():
        await asyncio.wait({run}, timeout=settings.CHAT_JOB_STOP_GRACE_MS / 1000)
    if run.done():
        return True
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await run
    return False


async def _keep_claim(entry: queue.Entry, consumer: str) -> None:
    """Reset the entry's idle time while the handler runs, so nobody reclaims a live run."""
    interval = max(0.05, settings.CHAT_JOB_VISIBILITY_MS / 3000)
    while True:
        await asyncio.sleep(interval)
        try:
            if not await queue.touch(entry, consumer=consumer):
                log.warning("job %s: entry %s was taken over", entry.job_id, entry.id)
                return
        except retryloop.OUTAGES as exc:
            log.info("job %s: claim not renewed: %s", entry.job_id, type(exc).__name__)


async def _settle_failure(entry: queue.Entry, job: records.Job, error: str) -> None:
    if job.attempts >= settings.CHAT_JOB_MAX_ATTEMPTS:
        await _give_up(entry, job, error)
        return
    delay = backoff_ms(
        job.attempts, base_ms=settings.CHAT_JOB_BACKOFF_MS, cap_ms=settings.CHAT_JOB_BACKOFF_MAX_MS
    )
    log.warning("job %s attempt %d failed (%s); retry in %d ms", job.id, job.attempts, error, delay)
    if await records.retry_later(job.id, attempt=job.attempts, error=error):
        await queue.retry(entry, delay_ms=delay)
    else:
        await queue.finish(entry)  # a newer run owns the job


async def _give_up(entry: queue.Entry, job: records.Job, error: str) -> None:
    await service.job_fail(job=job, error=error)
    await queue.dead_letter(entry, error=error, attempts=job.attempts)


async def _release(entry: queue.Entry, job: records.Job) -> None:
    log.info("job %s attempt %d interrupted by stop; released", job.id, job.attempts)
    await records.release(job.id, attempt=job.attempts)
    await queue.release(entry)


async def run_worker(
    stop: asyncio.Event, *, name: str | None = None, concurrency: int | None = None
) -> None:
    """Run jobs with `concurrency` slots until `stop` is set; each finishes or releases its job."""
    name = name or default_name()
    slots = max(1, concurrency or settings.CHAT_JOB_CONCURRENCY)
    if not await _prepare(stop):
        return
    consumers = [f"{name}-{i + 1}" for i in range(slots)]
    busy: set[str] = set()
    beat = asyncio.ensure_future(_heartbeat(name, slots, busy))
    try:
        await asyncio.gather(
            _resend_notices(stop), *(_slot(stop, consumer, busy) for consumer in consumers)
        )
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        with contextlib.suppress(*retryloop.OUTAGES):
            await queue.forget_worker(name, consumers=consumers)


async def _slot(stop: asyncio.Event, consumer: str, busy: set[str]) -> None:
    turns = itertools.count()
    turn = next(turns)

    async def step() -> float:
        nonlocal turn
        if await work_one(consumer=consumer, stop=stop, busy=busy, turn=turn):
            turn = next(turns)
        return 0

    await retryloop.repeat(step, stop=stop, name=f"job worker {consumer}", log=log)


async def _resend_notices(stop: asyncio.Event) -> None:
    """Send finished jobs' events again until seen (chat.jobs.service.notice_resend_one)."""

    async def step() -> float:
        return 0 if await service.notice_resend_one() else NOTICE_POLL_S

    await retryloop.repeat(step, stop=stop, name="job notices", log=log)


async def _prepare(stop: asyncio.Event) -> bool:
    """Create indexes and the consumer group, waiting out outages; False if stopped first."""

    async def prepare() -> None:
        await records.ensure_indexes()
        await queue.ensure_group()

    return await retryloop.until_done(
        prepare, stop=stop, waiting="job worker waits for its stores", log=log
    )


async def _heartbeat(name: str, slots: int, busy: set[str]) -> None:
    started = datetime.now(UTC).isoformat()
    while True:
        info = {
            "name": name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "concurrency": slots,
            "busy": len(busy),
            "started_at": started,
        }
        with contextlib.suppress(*retryloop.OUTAGES):
            await queue.heartbeat(name, info=info, ttl_ms=int(HEARTBEAT_S * 3000))
        await asyncio.sleep(HEARTBEAT_S)
