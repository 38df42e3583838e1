"""Job kinds for tests only, and a worker process that knows them (`python -m ...`)."""

from __future__ import annotations

import asyncio
import os

from chat.jobs import kinds, records

STALL_S = 120.0


async def flaky(job: records.Job, ctx: kinds.RunContext) -> records.ResultInfo:
    """Fails on its first `fail_times` attempts, then writes which attempt succeeded."""
    if ctx.attempt <= int(job.params["fail_times"]):
        raise RuntimeError(f"planned failure {ctx.attempt}")
    writer = await ctx.open_result(content_type="text/plain", filename="flaky.txt")
    await writer.write(f"attempt {ctx.attempt}")
    return await writer.close()


async def broken(job: records.Job, ctx: kinds.RunContext) -> records.ResultInfo:
    """Always fails."""
    raise ValueError(f"broken on attempt {ctx.attempt}")


async def stall_first(job: records.Job, ctx: kinds.RunContext) -> records.ResultInfo:
    """The first attempt writes part of its output and hangs; later attempts finish at once."""
    writer = await ctx.open_result(content_type="text/plain", filename="stall.txt")
    if ctx.attempt == 1:
        await writer.write("x" * (kinds.CHUNK_BYTES + 10))  # one chunk stored, then nothing
        await asyncio.sleep(STALL_S)
    await writer.write(f"done by attempt {ctx.attempt}")
    return await writer.close()


async def nap(job: records.Job, ctx: kinds.RunContext) -> records.ResultInfo:
    """Takes `nap_s` seconds, then writes that it woke."""
    await asyncio.sleep(float(job.params["nap_s"]))
    writer = await ctx.open_result(content_type="text/plain", filename="nap.txt")
    await writer.write("woke")
    return await writer.close()


TEST_KINDS = {
    "test-flaky": flaky,
    "test-broken": broken,
    "test-stall": stall_first,
    "test-nap": nap,
}


def register() -> None:
    """Make the test kinds runnable in this process."""
    for kind, handler in TEST_KINDS.items():
        kinds.register(kind, handler)


def unregister() -> None:
    """Forget the test kinds again."""
    for kind in TEST_KINDS:
        kinds.unregister(kind)


def main() -> None:
    """A worker process with the test kinds (killed by the test that starts it)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from chat.management.commands.runworker import serve

    register()
    asyncio.run(serve(name=os.environ.get("TEST_WORKER_NAME", "victim"), concurrency=1))


if __name__ == "__main__":
    main()
