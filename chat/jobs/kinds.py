"""Job kinds: the handler registry, the result writer, and the `export` and `stats` handlers.

A handler gets the job and a RunContext, writes its output through `ctx.open_result`, and
returns the ResultInfo. Handlers must be idempotent: a run may be interrupted at any point
and the job run again, and the writer of the new attempt replaces what the old one wrote.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import settings

from chat.jobs import records
from chat.jobs.formats import CONTENT_TYPES, RoomStats, TranscriptEncoder
from chat.messages import pages, store

CHUNK_BYTES = 256 * 1024
PROGRESS_EVERY_S = 0.5
# The kinds a client may ask for; tests register others of their own.
API_KINDS = ("export", "stats")


class ResultWriter:
    """Collects an attempt's output and stores it in chunks of CHUNK_BYTES."""

    def __init__(self, *, job_id: str, attempt: int, content_type: str, filename: str) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.content_type = content_type
        self.filename = filename
        self.buffer = bytearray()
        self.size = 0
        self.chunks = 0

    async def write(self, text: str) -> None:
        """Append text; full chunks go to the store at once."""
        self.buffer += text.encode()
        while len(self.buffer) >= CHUNK_BYTES:
            await self._flush(bytes(self.buffer[:CHUNK_BYTES]))
            del self.buffer[:CHUNK_BYTES]

    async def close(self) -> records.ResultInfo:
        """Store what is left and describe the whole output."""
        if self.buffer or self.chunks == 0:
            await self._flush(bytes(self.buffer))
            self.buffer.clear()
        return records.ResultInfo(
            attempt=self.attempt,
            content_type=self.content_type,
            filename=self.filename,
            size=self.size,
            chunks=self.chunks,
        )

    async def _flush(self, data: bytes) -> None:
        await records.put_chunk(self.job_id, attempt=self.attempt, n=self.chunks, data=data)
        self.chunks += 1
        self.size += len(data)


@dataclass
class RunContext:
    """What a handler may use while it runs one attempt of a job."""

    job: records.Job
    last_progress: float = 0.0

    @property
    def attempt(self) -> int:
        """This run's attempt number (1 for the first run)."""
        return self.job.attempts

    async def open_result(self, *, content_type: str, filename: str) -> ResultWriter:
        """A writer for this attempt's output; whatever earlier attempts wrote is dropped."""
        await records.drop_other_attempts(self.job.id, attempt=self.attempt)
        return ResultWriter(
            job_id=self.job.id,
            attempt=self.attempt,
            content_type=content_type,
            filename=filename,
        )

    async def progress(self, done: int, total: int, *, force: bool = False) -> None:
        """Record progress, at most every PROGRESS_EVERY_S unless forced."""
        moment = time.monotonic()
        if force or moment - self.last_progress >= PROGRESS_EVERY_S:
            self.last_progress = moment
            await records.set_progress(self.job.id, attempt=self.attempt, done=done, total=total)


Handler = Callable[[records.Job, RunContext], Awaitable[records.ResultInfo]]
_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """Make `kind` runnable by workers of this process."""
    _handlers[kind] = handler


def unregister(kind: str) -> None:
    """Forget a kind (tests clean up the kinds they registered)."""
    _handlers.pop(kind, None)


def handler_for(kind: str) -> Handler | None:
    """The handler of a kind, if this process knows it."""
    return _handlers.get(kind)


def result_filename(job: records.Job, ext: str) -> str:
    """`<room>-<kind>-<first 8 of id>.<ext>`: distinct per job, safe in a header."""
    return f"{job.params.get('room', 'room')}-{job.kind}-{job.id[:8]}.{ext}"


async def export(job: records.Job, ctx: RunContext) -> records.ResultInfo:
    """The room's whole transcript as JSON or CSV, read and written in batches."""
    room, fmt = job.params["room"], job.params.get("format", "json")
    encoder = TranscriptEncoder(room=room, fmt="csv" if fmt == "csv" else "json")
    total = await store.count_messages(room=room)
    writer = await ctx.open_result(
        content_type=CONTENT_TYPES[encoder.fmt], filename=result_filename(job, encoder.fmt)
    )
    await ctx.progress(0, total, force=True)
    await writer.write(encoder.head())
    async for page in pages.pages_after(
        room, after_seq=0, page_size=settings.CHAT_JOB_EXPORT_BATCH
    ):
        await writer.write(encoder.batch(page))
        await ctx.progress(encoder.count, max(total, encoder.count))
    await writer.write(encoder.tail())
    await ctx.progress(encoder.count, encoder.count, force=True)
    return await writer.close()


async def stats(job: records.Job, ctx: RunContext) -> records.ResultInfo:
    """Per-author message counts and the busiest hours of the room, as JSON."""
    room = job.params["room"]
    counter = RoomStats(room=room)
    total = await store.count_messages(room=room)
    await ctx.progress(0, total, force=True)
    async for page in pages.pages_after(
        room, after_seq=0, page_size=settings.CHAT_JOB_EXPORT_BATCH
    ):
        counter.add(page)
        await ctx.progress(counter.total, max(total, counter.total))
    writer = await ctx.open_result(
        content_type=CONTENT_TYPES["json"], filename=result_filename(job, "json")
    )
    await writer.write(json.dumps(counter.result(), indent=1) + "\n")
    await ctx.progress(counter.total, counter.total, force=True)
    return await writer.close()


register("export", export)
register("stats", stats)
