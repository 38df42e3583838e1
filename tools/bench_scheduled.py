"""Benchmark: how late scheduled messages are delivered when many fall due at once. Not a test.

    python tools/localstack.py --private -- python tools/bench_scheduled.py
    python tools/bench_scheduled.py [--messages 10000] [--window-s 60] [--rooms 10]
                                    [--schedulers N] [--lead-s 5] [--keep]

It schedules N messages due evenly spread over one window (by default 10,000 in one
minute, across 10 rooms), starts `--schedulers` `manage.py runscheduler` processes (by
default one per core, as runchat runs one scheduler loop per worker; 0 starts none and
relies on schedulers already running against the same Redis, e.g. a `make run`), waits
until every message is stored, and prints how late each was stored after its due time:

    {"messages": 10000, "window_s": 60, "schedulers": 2, "late_ms": {"p50": 3, "p99": 11, ...}}

It uses the Redis and MongoDB in REDIS_URL / MONGO_URL (the `make run` defaults when
unset). "Late" is the message's stored `ts` minus its due time, both on this machine's
clock; the broadcast follows the store by a Redis PUBLISH. Messages are deleted at the end
unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

import django  # noqa: E402

django.setup()

from channels.layers import get_channel_layer  # noqa: E402

from bench.chatbench import percentile  # noqa: E402
from chat.infra.clients import close_all, mongo_db  # noqa: E402
from chat.messages import store  # noqa: E402
from chat.protocol import group_name  # noqa: E402
from chat.scheduled import rules as scheduling  # noqa: E402
from chat.scheduled import store as scheduler  # noqa: E402

SCHEDULE_CONCURRENCY = 64
START_TIMEOUT_S = 30.0


def start_schedulers(count: int) -> list[subprocess.Popen[bytes]]:
    """Start `count` runscheduler processes and wait until each says it is delivering."""
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler"],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None
        if b"runscheduler" not in process.stdout.readline():
            raise SystemExit("a runscheduler process did not start")
    return processes


def stop_schedulers(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each, then SIGKILL what has not stopped within 10 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def schedule_all(
    rooms: list[str], count: int, start_ms: int, window_ms: int
) -> dict[str, int]:
    """Schedule `count` messages due evenly over the window; return id -> due ms."""
    due_of: dict[str, int] = {}
    gate = asyncio.Semaphore(SCHEDULE_CONCURRENCY)

    async def one(n: int) -> None:
        due = start_ms + n * window_ms // count
        async with gate:
            item = await scheduler.schedule(
                room=rooms[n % len(rooms)],
                author=f"bench-{n % 7}",
                text=f"scheduled bench message {n}",
                due_ms=due,
                client_id=None,
                holder=f"bench-{n % 7}",
            )
        due_of[item.id] = item.due_ms

    await asyncio.gather(*(one(n) for n in range(count)))
    return due_of


async def receive_broadcasts(
    layer: Any, channel: str, count: int, timeout_s: float
) -> dict[tuple[str, int], int]:
    """Listen to the rooms' broadcasts like a member would; return (room, seq) -> ms.

    Receiving, not polling MongoDB, so the measurement puts no load on the store.
    """
    received: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + timeout_s
    last_report = time.monotonic()
    while len(received) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SystemExit(f"only {len(received)} of {count} broadcasts within {timeout_s:.0f}s")
        try:
            event = await asyncio.wait_for(layer.receive(channel), remaining)
        except TimeoutError:
            continue
        for text in event["texts"]:
            message = json.loads(text)
            received.setdefault((message["room"], message["seq"]), int(time.time() * 1000))
        if time.monotonic() - last_report >= 5:
            print(f"  {len(received)}/{count} delivered", file=sys.stderr, flush=True)
            last_report = time.monotonic()
    return received


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stamp = int(time.time())
    rooms = [f"bench-sched-{stamp}-{i}" for i in range(args.rooms)]
    window_ms = int(args.window_s * 1000)
    await store.ensure_indexes()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    for room in rooms:
        await layer.group_add(group_name(room), channel)
    processes = start_schedulers(args.schedulers)
    try:
        start_ms = int(time.time() * 1000) + int(args.lead_s * 1000)
        began = time.monotonic()
        due_of = await schedule_all(rooms, args.messages, start_ms, window_ms)
        took = time.monotonic() - began
        print(f"  scheduled {len(due_of)} in {took:.1f}s", file=sys.stderr, flush=True)
        if time.time() * 1000 > start_ms:
            print("  warning: scheduling ran past the first due time", file=sys.stderr)
        received = await receive_broadcasts(
            layer, channel, args.messages, args.window_s + args.lead_s + 300
        )
    finally:
        stop_schedulers(processes)
        for room in rooms:
            await layer.group_discard(group_name(room), channel)
    docs = (
        await mongo_db()[store.MESSAGES]
        .find({"room": {"$in": rooms}}, projection={"client_id": 1, "ts": 1, "seq": 1, "room": 1})
        .to_list(None)
    )
    due = {doc["_id"]: due_of[doc["client_id"].removeprefix("sched:")] for doc in docs}
    late = sorted(scheduling.to_ms(doc["ts"]) - due[doc["_id"]] for doc in docs)
    seen = sorted(received[(doc["room"], doc["seq"])] - due[doc["_id"]] for doc in docs)
    copies = len(docs) - len({doc["client_id"] for doc in docs})
    if not args.keep:
        await mongo_db()[store.MESSAGES].delete_many({"room": {"$in": rooms}})
    await close_all()
    return {
        "messages": args.messages,
        "window_s": args.window_s,
        "rooms": args.rooms,
        "schedulers": args.schedulers,
        "duplicates": copies,
        "early": sum(1 for value in late if value < 0),
        "stored_late_ms": summary(late),
        "received_late_ms": summary(seen),
    }


def summary(values: list[int]) -> dict[str, float | None]:
    """p50/p90/p99/max/mean of sorted milliseconds."""
    return {
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": values[-1] if values else 0,
        "mean": round(sum(values) / len(values), 1) if values else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--window-s", type=float, default=60.0, help="all are due within this")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument(
        "--schedulers", type=int, default=os.cpu_count() or 1, help="runscheduler processes"
    )
    parser.add_argument("--lead-s", type=float, default=5.0, help="first due time from now")
    parser.add_argument("--keep", action="store_true", help="keep the delivered messages")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(
        f"{result['messages']} messages due within {result['window_s']:.0f}s, "
        f"{result['schedulers']} schedulers; {result['duplicates']} duplicates, "
        f"{result['early']} early"
    )
    for what in ("stored", "received"):
        late = result[f"{what}_late_ms"]
        print(
            f"  {what:>8} after due time: p50 {late['p50']} ms, p90 {late['p90']} ms, "
            f"p99 {late['p99']} ms, max {late['max']} ms"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
