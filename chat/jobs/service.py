"""State changes of jobs: create and enqueue, finish and notify, forget seen notices."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.broadcast import events
from chat.errors import ServiceError
from chat.jobs import kinds, priorities, queue, records
from chat.jobs.formats import backoff_ms
from chat.jobs.priorities import Priority
from chat.protocol import JobEvent

log = logging.getLogger(__name__)

NOTIFY_LEASE_MS = 30_000


def result_url(job_id: str) -> str:
    """Where a finished job's output is downloaded."""
    return f"/api/jobs/{job_id}/result"


async def job_create(
    *, kind: str, params: dict[str, str], owner: str, priority: Priority = priorities.DEFAULT
) -> records.Job:
    """Store a pending job and queue it; the id is the caller's receipt.

    A job the queue refused is removed again, so no record waits for a run that never comes.
    """
    if kinds.handler_for(kind) is None:
        raise ServiceError("invalid_kind", f"no such job kind: {kind}")
    job_id = uuid.uuid4().hex
    try:
        job = await records.insert_job(
            job_id=job_id, kind=kind, params=params, owner=owner, priority=priority
        )
    except PyMongoError as exc:
        log.warning("job not stored: %s", type(exc).__name__)
        raise ServiceError("unavailable", "the job could not be stored; try again") from None
    try:
        await queue.enqueue(job_id, priority=priority)
    except RedisError as exc:
        log.warning("job %s not queued: %s", job_id, type(exc).__name__)
        await records.delete_job(job_id)
        raise ServiceError("unavailable", "the job queue is unavailable; try again") from None
    log.info("job %s created kind=%s priority=%s", job_id, kind, priority)
    return job


def _event(job: records.Job) -> JobEvent:
    return JobEvent(
        id=job.id,
        kind=job.kind,
        status="completed" if job.status == records.COMPLETED else "failed",
        result_url=result_url(job.id) if job.status == records.COMPLETED else None,
        error=job.error,
    )


async def _announce(job: records.Job) -> None:
    """Keep the owner's notice, then send it to their open sockets (stored first: never lost),
    and again with backoff until a socket says job.seen (notice_resend_one)."""
    event = _event(job)
    await records.put_notice(job.id, owner=job.owner, event=event.model_dump(mode="json"))
    try:
        await events.notify_job(owner=job.owner, event=event)
        await queue.notify_later(job.id, delay_ms=_resend_delay_ms(1), tries=1)
    except RedisError as exc:
        # The stored notice reaches the owner on their next connect.
        log.warning("job %s finished but not announced: %s", job.id, exc)


def _resend_delay_ms(tries: int) -> int:
    return backoff_ms(
        tries, base_ms=settings.CHAT_JOB_NOTIFY_BACKOFF_MS, cap_ms=settings.CHAT_JOB_BACKOFF_MAX_MS
    )


async def notice_resend_one() -> bool:
    """Send one finished job's event again if it is due and not seen; False if none is due.

    A notice is sent at most CHAT_JOB_NOTIFY_ATTEMPTS times in all (the first at the finish);
    after that it waits for the owner's next connect. The claim is a lease: a worker dying
    mid-send leaves it to be sent by another.
    """
    claimed = await queue.notify_claim(lease_ms=NOTIFY_LEASE_MS)
    if claimed is None:
        return False
    job_id, tries = claimed
    notice = await records.get_notice(job_id)
    if notice is None or tries >= settings.CHAT_JOB_NOTIFY_ATTEMPTS:
        await queue.notify_stop(job_id)
        return True
    await events.notify_job(owner=notice["owner"], event=JobEvent.model_validate(notice["event"]))
    log.info(
        "job %s event sent again (%d of at most %d)",
        job_id,
        tries + 1,
        settings.CHAT_JOB_NOTIFY_ATTEMPTS,
    )
    await queue.notify_later(job_id, delay_ms=_resend_delay_ms(tries + 1), tries=tries + 1)
    return True


async def job_complete(*, job: records.Job, result: records.ResultInfo) -> bool:
    """Record the attempt's result and tell the owner; False if a newer run owns the job."""
    finished = await records.complete(job.id, attempt=job.attempts, result=result)
    if finished is None:
        return False
    log.info("job %s completed attempt=%d bytes=%d", job.id, job.attempts, result.size)
    await _announce(finished)
    return True


async def job_fail(*, job: records.Job, error: str) -> bool:
    """Record the job as failed for good and tell the owner; False if a newer run owns it."""
    finished = await records.fail(job.id, attempt=job.attempts, error=error)
    if finished is None:
        return False
    log.warning("job %s failed after %d attempts: %s", job.id, job.attempts, error)
    await _announce(finished)
    return True


async def job_seen(*, owner: str, job_id: str) -> None:
    """The owner has seen the job's notification: stop delivering it (idempotent)."""
    try:
        if await records.delete_notice(job_id, owner=owner):
            await queue.notify_stop(job_id)
    except (PyMongoError, RedisError):
        raise ServiceError("unavailable", "could not record that; try again") from None


def job_params(*, kind: str, room: str, fmt: str | None) -> dict[str, str]:
    """The params a job keeps: the room, and for an export its format (JSON unless CSV)."""
    return {"room": room, "format": fmt or "json"} if kind == "export" else {"room": room}
