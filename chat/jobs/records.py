"""Job records, result chunks and pending notices in MongoDB: small typed CRUD functions.

Plain CRUD only (insert, find, update with $set/$inc, delete, ordinary indexes), so the same
queries run on MongoDB and FerretDB. A result is stored as numbered chunks in its own
collection, tagged with the attempt that wrote it: any container reaching MongoDB can
serve it, and a re-run replaces a half-written result instead of appending to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from chat.infra.clients import mongo_db

JOBS = "jobs"
CHUNKS = "job_chunks"
NOTICES = "job_notices"

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"
UNFINISHED = (PENDING, RUNNING)


@dataclass(frozen=True)
class ResultInfo:
    """Where a finished job's output is: the chunks its attempt wrote."""

    attempt: int
    content_type: str
    filename: str
    size: int
    chunks: int


@dataclass(frozen=True)
class Job:
    """One job record."""

    id: str
    kind: str
    params: dict[str, str]
    owner: str
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result: ResultInfo | None = None
    progress_done: int | None = None
    progress_total: int | None = None
    worker: str | None = None
    priority: str = "normal"


def now() -> datetime:
    """The current time as MongoDB keeps it (milliseconds)."""
    stamp = datetime.now(UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


async def ensure_indexes() -> None:
    """Create the indexes the job queries rely on (idempotent)."""
    db = mongo_db()
    await db[JOBS].create_index([("owner", ASCENDING), ("created_at", DESCENDING)], name="owner")
    await db[JOBS].create_index([("created_at", DESCENDING)], name="created_at")
    await db[CHUNKS].create_index(
        [("job", ASCENDING), ("attempt", ASCENDING), ("n", ASCENDING)], name="job_attempt_n"
    )
    await db[NOTICES].create_index([("owner", ASCENDING), ("created_at", ASCENDING)], name="owner")


def _from_doc(doc: dict[str, Any]) -> Job:
    result = doc.get("result")
    progress = doc.get("progress") or {}
    return Job(
        id=doc["_id"],
        kind=doc["kind"],
        params=dict(doc.get("params") or {}),
        owner=doc["owner"],
        status=doc["status"],
        attempts=int(doc.get("attempts", 0)),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        started_at=doc.get("started_at"),
        finished_at=doc.get("finished_at"),
        error=doc.get("error"),
        result=ResultInfo(**result) if result else None,
        progress_done=progress.get("done"),
        progress_total=progress.get("total"),
        worker=doc.get("worker"),
        priority=doc.get("priority") or "normal",
    )


async def insert_job(
    *, job_id: str, kind: str, params: dict[str, str], owner: str, priority: str = "normal"
) -> Job:
    """Store a new pending job."""
    stamp = now()
    doc = {
        "_id": job_id,
        "kind": kind,
        "params": params,
        "owner": owner,
        "priority": priority,
        "status": PENDING,
        "attempts": 0,
        "created_at": stamp,
        "updated_at": stamp,
    }
    await mongo_db()[JOBS].insert_one(doc)
    return _from_doc(doc)


async def delete_job(job_id: str) -> None:
    """Remove a job record (one that never reached the queue)."""
    await mongo_db()[JOBS].delete_one({"_id": job_id})


async def get_job(job_id: str) -> Job | None:
    """One job by id."""
    doc = await mongo_db()[JOBS].find_one({"_id": job_id})
    return _from_doc(doc) if doc else None


async def list_jobs(
    *, owner: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[Job]:
    """Jobs newest first, of one owner or of everyone, of one status or any; a page of them."""
    query: dict[str, str] = {}
    if owner is not None:
        query["owner"] = owner
    if status is not None:
        query["status"] = status
    cursor = (
        mongo_db()[JOBS]
        .find(query)
        .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        .skip(offset)
        .limit(limit)
    )
    return [_from_doc(doc) for doc in await cursor.to_list(length=limit)]


async def start_attempt(job_id: str, *, worker: str) -> Job | None:
    """Count one more attempt of an unfinished job and mark it running; None if finished/unknown.

    The attempt number this returns is the run's token: only the run holding the latest one
    may finish the job, so a run reclaimed from a stalled worker finishes it exactly once.
    """
    stamp = now()
    doc = await mongo_db()[JOBS].find_one_and_update(
        {"_id": job_id, "status": {"$in": list(UNFINISHED)}},
        {
            "$inc": {"attempts": 1},
            "$set": {"status": RUNNING, "started_at": stamp, "updated_at": stamp, "worker": worker},
        },
        return_document=ReturnDocument.AFTER,
    )
    return _from_doc(doc) if doc else None


async def _update_attempt(job_id: str, attempt: int, changes: dict[str, Any]) -> bool:
    result = await mongo_db()[JOBS].update_one(
        {"_id": job_id, "attempts": attempt, "status": RUNNING}, changes
    )
    return result.modified_count == 1


async def set_progress(job_id: str, *, attempt: int, done: int, total: int) -> None:
    """Record how far the running attempt has got."""
    await _update_attempt(
        job_id, attempt, {"$set": {"progress": {"done": done, "total": total}, "updated_at": now()}}
    )


async def complete(job_id: str, *, attempt: int, result: ResultInfo) -> Job | None:
    """Mark the attempt's job completed with its result; None if another run owns it now."""
    stamp = now()
    changes = {
        "status": COMPLETED,
        "result": result.__dict__,
        "error": None,
        "finished_at": stamp,
        "updated_at": stamp,
    }
    if not await _update_attempt(job_id, attempt, {"$set": changes}):
        return None
    return await get_job(job_id)


async def fail(job_id: str, *, attempt: int, error: str) -> Job | None:
    """Mark the attempt's job failed for good; None if another run owns it now."""
    stamp = now()
    changes = {"status": FAILED, "error": error, "finished_at": stamp, "updated_at": stamp}
    if not await _update_attempt(job_id, attempt, {"$set": changes}):
        return None
    return await get_job(job_id)


async def retry_later(job_id: str, *, attempt: int, error: str) -> bool:
    """Put the attempt's job back to pending with the error that will be retried."""
    changes = {"status": PENDING, "error": error, "updated_at": now()}
    return await _update_attempt(job_id, attempt, {"$set": changes})


async def release(job_id: str, *, attempt: int) -> bool:
    """Give an interrupted attempt back: pending again, and the attempt does not count."""
    changes = {"$set": {"status": PENDING, "updated_at": now()}, "$inc": {"attempts": -1}}
    return await _update_attempt(job_id, attempt, changes)


# ---- result chunks ----------------------------------------------------------------------


async def drop_other_attempts(job_id: str, *, attempt: int) -> None:
    """Delete what earlier attempts of the job wrote (a re-run starts its output afresh)."""
    await mongo_db()[CHUNKS].delete_many({"job": job_id, "attempt": {"$ne": attempt}})


async def put_chunk(job_id: str, *, attempt: int, n: int, data: bytes) -> None:
    """Store chunk `n` of the attempt's output (again, if a retry of the write)."""
    await mongo_db()[CHUNKS].replace_one(
        {"_id": f"{job_id}:{attempt}:{n}"},
        {"job": job_id, "attempt": attempt, "n": n, "data": data},
        upsert=True,
    )


async def chunks(job_id: str, *, attempt: int) -> AsyncIterator[bytes]:
    """The attempt's output chunk by chunk, in order, a few chunks per round trip."""
    cursor = (
        mongo_db()[CHUNKS]
        .find({"job": job_id, "attempt": attempt}, projection={"data": 1, "_id": 0})
        .sort("n", ASCENDING)
        .batch_size(4)
    )
    async for doc in cursor:
        yield bytes(doc["data"])


# ---- pending notices --------------------------------------------------------------------


async def put_notice(job_id: str, *, owner: str, event: dict[str, Any]) -> None:
    """Keep the job's notification for its owner until a client says it was seen."""
    await mongo_db()[NOTICES].replace_one(
        {"_id": job_id},
        {"owner": owner, "event": event, "created_at": now()},
        upsert=True,
    )


async def notices(*, owner: str, limit: int = 100) -> list[dict[str, Any]]:
    """The owner's notifications not yet seen, oldest first."""
    cursor = mongo_db()[NOTICES].find({"owner": owner}).sort("created_at", ASCENDING).limit(limit)
    return [doc["event"] for doc in await cursor.to_list(length=limit)]


async def get_notice(job_id: str) -> dict[str, Any] | None:
    """The job's notification not yet seen ({owner, event}), None if seen or never made."""
    doc = await mongo_db()[NOTICES].find_one({"_id": job_id})
    return {"owner": doc["owner"], "event": doc["event"]} if doc else None


async def delete_notice(job_id: str, *, owner: str) -> bool:
    """Forget a notification its owner has seen; False if there was none."""
    result = await mongo_db()[NOTICES].delete_one({"_id": job_id, "owner": owner})
    return result.deleted_count == 1
