"""Reads of jobs: one job, an owner's jobs, pending notices, a result, the queue's figures."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chat.jobs import queue, records
from chat.protocol import JobEvent


async def job_get(*, job_id: str) -> records.Job | None:
    """One job by id."""
    return await records.get_job(job_id)


async def job_list(
    *, owner: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[records.Job]:
    """Jobs newest first, of one owner (or everyone's, for operators), optionally of one
    status; `offset` pages on."""
    return await records.list_jobs(owner=owner, status=status, limit=limit, offset=offset)


async def pending_notices(*, owner: str) -> list[JobEvent]:
    """The owner's `job` events not yet acknowledged with job.seen, oldest first."""
    return [JobEvent.model_validate(event) for event in await records.notices(owner=owner)]


def job_result(job: records.Job) -> AsyncIterator[bytes]:
    """The finished job's output, chunk by chunk (it must have a result)."""
    if job.result is None:
        raise ValueError(f"job {job.id} has no result")
    return records.chunks(job.id, attempt=job.result.attempt)


async def queue_status() -> queue.QueueStatus:
    """Queue depth, in flight, delayed retries, dead letters and live workers: for operators."""
    return await queue.status()
