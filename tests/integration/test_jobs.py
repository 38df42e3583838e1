"""The job queue and worker against real Redis and the store: reclaim, retries, dead letters."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from channels.layers import get_channel_layer

from chat.infra.clients import mongo_db, redis
from chat.jobs import kinds, queue, records, selectors, service
from chat.jobs.worker import run_worker
from chat.messages import store
from chat.messages.documents import message_id
from chat.protocol import MessageOut
from chat.protocol.base import owner_group
from tests.chatserver import ROOT
from tests.integration import jobkinds

WAIT_S = 30.0
VISIBILITY_MS = 1500


@pytest.fixture(autouse=True)
async def job_queue(settings: Any) -> AsyncIterator[str]:
    """A queue of this test's own with short timings; its keys are deleted afterwards."""
    prefix = f"test:jobs:{uuid.uuid4().hex[:10]}"
    settings.CHAT_JOB_QUEUE = prefix
    settings.CHAT_JOB_VISIBILITY_MS = VISIBILITY_MS
    settings.CHAT_JOB_BACKOFF_MS = 20
    settings.CHAT_JOB_BACKOFF_MAX_MS = 100
    settings.CHAT_JOB_POLL_MS = 100
    settings.CHAT_JOB_STOP_GRACE_MS = 300
    jobkinds.register()
    await records.ensure_indexes()
    await queue.ensure_group()
    yield prefix
    jobkinds.unregister()
    keys = [key async for key in redis().scan_iter(match=f"{{{prefix}}}:*")]
    if keys:
        await redis().delete(*keys)


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def is_running(job_id: str) -> bool:
    job = await records.get_job(job_id)
    return job is not None and job.status == records.RUNNING


async def finished(job_id: str) -> records.Job | None:
    job = await records.get_job(job_id)
    return job if job and job.status in (records.COMPLETED, records.FAILED) else None


class Worker:
    """An in-process worker run as a task, stopped at the end of the block."""

    def __init__(self, name: str, concurrency: int = 1) -> None:
        self.name, self.concurrency = name, concurrency
        self.stop = asyncio.Event()

    async def __aenter__(self) -> Worker:
        self.task = asyncio.ensure_future(
            run_worker(self.stop, name=self.name, concurrency=self.concurrency)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


async def output(job: records.Job) -> bytes:
    return b"".join([chunk async for chunk in selectors.job_result(job)])


async def create(kind: str, owner: str = "", **params: str) -> str:
    owner = owner or f"owner-{uuid.uuid4().hex[:8]}"
    return (await service.job_create(kind=kind, params=params, owner=owner)).id


async def test_a_job_failing_three_times_then_succeeding_completes_with_four_attempts() -> None:
    """Each failure retries after a backoff; the fourth run's result is the job's result."""
    job_id = await create("test-flaky", fail_times="3")
    async with Worker("w-flaky"):
        job = await until(lambda: finished(job_id), "the flaky job to finish")
    assert job.status == records.COMPLETED
    assert job.attempts == 4
    assert job.error is None
    assert await output(job) == b"attempt 4"
    status = await selectors.queue_status()
    assert (status.waiting, status.in_flight, status.delayed, status.dead) == (0, 0, 0, 0)


async def test_a_job_that_always_fails_ends_failed_in_the_dead_letter_stream() -> None:
    """After the last attempt the job is failed with the last error and dead-lettered."""
    owner = f"bob-{uuid.uuid4().hex[:6]}"
    job_id = await create("test-broken", owner=owner)
    async with Worker("w-broken"):
        job = await until(lambda: finished(job_id), "the broken job to fail")
    assert job.status == records.FAILED
    assert job.attempts == 10
    assert job.error == "ValueError: broken on attempt 10"
    dead = await queue.dead_letters()
    assert [(d["job"], d["attempts"]) for d in dead] == [(job_id, "10")]
    assert (await selectors.queue_status()).dead == 1
    [notice] = await selectors.pending_notices(owner=owner)
    assert (notice.id, notice.status, notice.result_url) == (job_id, "failed", None)


async def test_a_worker_killed_mid_job_is_replaced_after_the_visibility_timeout(
    job_queue: str,
) -> None:
    """SIGKILL during a run: another worker reclaims the entry once it is idle long enough,
    re-runs it from the start, and the job completes exactly once."""
    owner = f"carol-{uuid.uuid4().hex[:6]}"
    job_id = await create("test-stall", owner=owner)
    env = {**os.environ, "CHAT_JOB_QUEUE": job_queue, "CHAT_JOB_VISIBILITY_MS": str(VISIBILITY_MS)}
    victim = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.jobkinds"], cwd=ROOT, env=env
    )
    try:

        async def first_chunk_written() -> bool:
            return await mongo_db()[records.CHUNKS].count_documents({"job": job_id}) > 0

        await until(first_chunk_written, "the first attempt to write a chunk")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    killed_at = time.monotonic()
    job = await records.get_job(job_id)
    assert (job.status, job.attempts) == (records.RUNNING, 1)

    async with Worker("w-rescuer"):
        job = await until(lambda: finished(job_id), "the reclaimed job to finish")
        took = time.monotonic() - killed_at
        # Nobody runs it again: wait out another visibility timeout.
        await asyncio.sleep(VISIBILITY_MS / 1000 + 0.5)
    assert took >= VISIBILITY_MS / 1000 - 0.2, "reclaimed before the visibility timeout"
    job = await records.get_job(job_id)
    assert (job.status, job.attempts, job.worker) == (records.COMPLETED, 2, "w-rescuer-1")
    assert await output(job) == b"done by attempt 2"
    assert await mongo_db()[records.CHUNKS].count_documents({"job": job_id}) == 1
    assert [n.id for n in await selectors.pending_notices(owner=owner)] == [job_id]
    status = await selectors.queue_status()
    assert (status.waiting, status.in_flight) == (0, 0)


async def test_a_stopping_worker_releases_the_job_it_cannot_finish_in_time() -> None:
    """Stop with a run in hand past the grace time: the job is pending and queued again."""
    job_id = await create("test-stall")
    async with Worker("w-stopping") as worker:
        await until(
            lambda: mongo_db()[records.CHUNKS].count_documents({"job": job_id}),
            "the run to start",
        )
        worker.stop.set()
        await asyncio.wait_for(worker.task, 10)
    job = await records.get_job(job_id)
    assert (job.status, job.attempts) == (records.PENDING, 0)
    status = await selectors.queue_status()
    assert (status.waiting, status.in_flight, status.workers) == (1, 0, [])

    async def taken_by_next() -> bool:
        job = await records.get_job(job_id)
        return job.status == records.RUNNING and job.worker == "w-next-1"

    # The released attempt did not count: the next worker runs attempt 1 again at once.
    async with Worker("w-next"):
        await until(taken_by_next, "another worker to take the released job", timeout=5)
        assert (await records.get_job(job_id)).attempts == 1


async def test_a_stopping_worker_finishes_a_job_that_ends_within_the_grace_time(
    settings: Any,
) -> None:
    """Stop during a short run: the run completes and is acked before the worker exits."""
    settings.CHAT_JOB_STOP_GRACE_MS = 5000
    job_id = await create("test-nap", nap_s="0.5")
    async with Worker("w-finishing") as worker:
        await until(lambda: is_running(job_id), "the nap to start")
        worker.stop.set()
        await asyncio.wait_for(worker.task, 10)
    job = await records.get_job(job_id)
    assert (job.status, job.attempts) == (records.COMPLETED, 1)
    assert await output(job) == b"woke"
    status = await selectors.queue_status()
    assert (status.waiting, status.in_flight) == (0, 0)


async def test_sigterm_makes_a_worker_process_release_its_job_and_exit(job_queue: str) -> None:
    """A worker process told to stop with a job in hand past the grace time puts it back
    in the queue, forgets its heartbeat, and exits 0."""
    job_id = await create("test-stall")
    env = {
        **os.environ,
        "CHAT_JOB_QUEUE": job_queue,
        "CHAT_JOB_STOP_GRACE_MS": "300",
        "TEST_WORKER_NAME": "w-term",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.jobkinds"], cwd=ROOT, env=env
    )
    try:
        await until(lambda: is_running(job_id), "the worker process to start the job")
        assert [w.name for w in (await selectors.queue_status()).workers] == ["w-term"]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    job = await records.get_job(job_id)
    assert (job.status, job.attempts) == (records.PENDING, 0)
    status = await selectors.queue_status()
    assert (status.waiting, status.in_flight, status.workers) == (1, 0, [])


async def test_several_workers_run_each_job_once() -> None:
    """Two workers with two slots each share ten jobs; every job runs exactly once."""
    ids = [await create("test-flaky", fail_times="0") for _ in range(10)]
    async with Worker("w-a", concurrency=2), Worker("w-b", concurrency=2):
        for job_id in ids:
            await until(lambda job_id=job_id: finished(job_id), "every job to finish")
        status = await selectors.queue_status()
        assert sorted(w.name for w in status.workers) == ["w-a", "w-b"]
    jobs = [await records.get_job(job_id) for job_id in ids]
    assert {(j.status, j.attempts) for j in jobs} == {(records.COMPLETED, 1)}


async def test_export_writes_the_whole_room_in_small_batches(room: str, settings: Any) -> None:
    """An export reads the room in batches and writes its transcript in several chunks."""
    settings.CHAT_JOB_EXPORT_BATCH = 7
    text = "y" * 3000
    await store.insert_many(
        [
            MessageOut(
                id=message_id(room, i),
                seq=i,
                room=room,
                author=f"u{i % 3}",
                text=text,
                ts=records.now(),
            )
            for i in range(1, 201)
        ]
    )
    job_id = await create("export", room=room, format="csv")
    async with Worker("w-export"):
        job = await until(lambda: finished(job_id), "the export to finish")
    assert job.status == records.COMPLETED
    assert job.result.chunks == 3  # 200 x 3 KB in 256 KiB chunks
    assert (job.progress_done, job.progress_total) == (200, 200)
    lines = (await output(job)).decode().splitlines()
    assert lines[0] == "seq,id,ts,author,text"
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, 201))
    assert job.result.filename == f"{room}-export-{job_id[:8]}.csv"
    assert kinds.handler_for("export") is not None


async def test_a_worker_takes_high_before_normal_before_low_in_weighted_rounds() -> None:
    """Three jobs of each priority waiting for one slot run in the documented round order."""
    ids: dict[str, str] = {}
    for priority in ("low", "normal", "high"):
        for _ in range(3):
            job = await service.job_create(
                kind="test-nap", params={"nap_s": "0"}, owner="prio", priority=priority
            )
            ids[job.id] = priority
    async with Worker("w-prio"):
        for job_id in ids:
            await until(lambda job_id=job_id: finished(job_id), "every job to finish")
    jobs = [await records.get_job(job_id) for job_id in ids]
    ran = [j.priority for j in sorted(jobs, key=lambda j: j.started_at)]  # type: ignore[union-attr]
    assert ran == ["high", "normal", "high", "low", "high", "normal", "normal", "low", "low"]


async def listen(owner: str) -> tuple[Any, str]:
    """A channel in the owner's group, as each of the owner's sockets has."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(owner_group(owner), channel)
    return layer, channel


async def test_a_finished_jobs_event_is_sent_again_until_seen(settings: Any) -> None:
    """The owner's sockets get the event again with backoff; job.seen stops the resends."""
    settings.CHAT_JOB_NOTIFY_BACKOFF_MS = 50
    owner = f"carol-{uuid.uuid4().hex[:6]}"
    layer, channel = await listen(owner)
    job_id = await create("test-nap", owner=owner, nap_s="0")
    async with Worker("w-notify"):
        for _ in range(3):
            event = await asyncio.wait_for(layer.receive(channel), 10)
            assert json.loads(event["text"])["id"] == job_id
        await service.job_seen(owner=owner, job_id=job_id)
        assert await redis().zscore(queue.key("notify"), job_id) is None
    await layer.group_discard(owner_group(owner), channel)


async def test_a_finished_jobs_event_is_sent_at_most_the_configured_times(settings: Any) -> None:
    settings.CHAT_JOB_NOTIFY_BACKOFF_MS = 200
    settings.CHAT_JOB_NOTIFY_ATTEMPTS = 3
    owner = f"dave-{uuid.uuid4().hex[:6]}"
    layer, channel = await listen(owner)
    job_id = await create("test-nap", owner=owner, nap_s="0")
    async with Worker("w-notify-max"):
        await until(lambda: finished(job_id), "the job to finish")
        first = await asyncio.wait_for(layer.receive(channel), 10)
        assert json.loads(first["text"])["id"] == job_id
        await until(lambda: redis().hget(queue.key("notify:tries"), job_id), "a resend planned")

        async def resends_over() -> bool:
            return await redis().hget(queue.key("notify:tries"), job_id) is None

        await until(resends_over, "the resends to stop")
    sent = 1
    while True:
        try:
            await asyncio.wait_for(layer.receive(channel), 0.5)
        except TimeoutError:
            break
        sent += 1
    assert sent == 3
    await layer.group_discard(owner_group(owner), channel)


async def test_runs_queued_under_the_untagged_keys_of_before_are_adopted(job_queue: str) -> None:
    """An upgrade keeps the jobs the previous version queued: they run as normal ones."""
    owner = f"old-{uuid.uuid4().hex[:6]}"
    job = await records.insert_job(
        job_id=uuid.uuid4().hex, kind="test-nap", params={"nap_s": "0"}, owner=owner
    )
    await redis().xadd(f"{job_queue}:stream", {"job": job.id})
    await queue.ensure_group()
    assert not await redis().exists(f"{job_queue}:stream")
    async with Worker("w-adopt"):
        done = await until(lambda: finished(job.id), "the adopted job to finish")
    assert done.status == records.COMPLETED
