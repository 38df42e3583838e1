"""Benchmark: how long a client that missed N messages takes to catch up. Not a test.

    python tools/bench_catchup.py [--url ws://127.0.0.1:4810] [--messages 10000]
                                  [--seed ws|command] [--room NAME]

Against a running server (by default the one `CHAT_RATE_PER_S=0 make run` serves on port 4810:
with the per-connection rate limit on, `--seed ws` is throttled to 10 messages/s), it fills a
fresh room with N messages, then connects one client with `?after_seq=0` (a client that
was away while all of them were sent) and times from the start of the connection until
that client holds all N, counting the `history` catch-up pages (and `batch` frames) it
received. It prints one JSON line:

    {"messages": 10000, "seconds": 2.41, "messages_per_s": 4149.4, "pages": 50, ...}

Seeding:
  --seed ws       (default) post the messages through the WebSocket itself, pipelined over
                  --senders connections, so it works against any server the URL reaches;
  --seed command  run `manage.py seed_messages --room R --messages N` (much faster; it writes
                  to the Redis/MongoDB in this shell's REDIS_URL/MONGO_URL, which must be
                  the ones the server uses; the `make run` defaults are).

Note that with the local FerretDB every history read scans the whole collection, so the
figure depends on how many messages the store already holds, in any room.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import websockets

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "ws://127.0.0.1:4810"
CONNECT_TIMEOUT_S = 10.0
FRAME_TIMEOUT_S = 30.0


def room_url(base: str, room: str, name: str, after_seq: int | None = None) -> str:
    """The WebSocket URL of a room, optionally resuming after a seq."""
    url = f"{base.rstrip('/')}/ws/rooms/{quote(room)}/?name={quote(name)}"
    return url if after_seq is None else f"{url}&after_seq={after_seq}"


async def _recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))


async def _send_share(base: str, room: str, index: int, count: int, window: int) -> None:
    """Post `count` messages over one connection, at most `window` unacknowledged."""
    url = room_url(base, room, f"bench-sender-{index}")
    async with await asyncio.wait_for(websockets.connect(url), CONNECT_TIMEOUT_S) as ws:
        pending: set[str] = set()
        retry: list[str] = []
        sent = 0

        async def send(client_id: str) -> None:
            text = f"catch-up bench message {client_id}"
            await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
            pending.add(client_id)

        while sent < count or pending or retry:
            while retry and len(pending) < window:
                await send(retry.pop())
            while sent < count and len(pending) < window:
                await send(f"bench-{index}-{sent}")
                sent += 1
            event = await _recv(ws)
            if event["type"] == "ack":
                pending.discard(event["client_id"])
            elif event["type"] == "error":
                if event.get("code") != "not_stored" or "client_id" not in event:
                    raise SystemExit(f"bench: the server refused a message: {event}")
                pending.discard(event["client_id"])
                retry.append(event["client_id"])  # same client_id: stored once at most
                await asyncio.sleep(0.2)


async def seed_over_websocket(base: str, room: str, count: int, senders: int, window: int) -> None:
    """Fill the room through the chat itself."""
    shares = [count // senders + (1 if i < count % senders else 0) for i in range(senders)]
    await asyncio.gather(
        *(_send_share(base, room, i, share, window) for i, share in enumerate(shares) if share)
    )


def seed_with_command(room: str, count: int) -> None:
    """Fill the room with `manage.py seed_messages` (real seqs, straight into the store)."""
    subprocess.run(
        [sys.executable, "manage.py", "seed_messages", "--room", room, "--messages", str(count)],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "chatsite.settings", **os.environ},
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def time_catch_up(base: str, room: str, expected: int) -> dict[str, Any]:
    """Connect with after_seq=0 and time until every message of the room is held."""
    seqs: set[int] = set()
    pages = batches = frames = 0
    started = time.perf_counter()
    url = room_url(base, room, "bench-reader", after_seq=0)
    async with await asyncio.wait_for(websockets.connect(url), CONNECT_TIMEOUT_S) as ws:
        connected = time.perf_counter() - started
        first_page: float | None = None
        while len(seqs) < expected:
            events = [await _recv(ws)]
            frames += 1
            while events:
                event = events.pop(0)
                if event["type"] == "batch":
                    batches += 1
                    events[:0] = event["events"]
                elif event["type"] == "history":
                    pages += 1
                    if first_page is None:
                        first_page = time.perf_counter() - started
                    seqs.update(message["seq"] for message in event["messages"])
                elif event["type"] == "message":
                    seqs.add(event["seq"])
                elif event["type"] == "error":
                    raise SystemExit(f"bench: the server answered the reader with {event}")
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "messages_per_s": round(expected / seconds, 1),
        "pages": pages,
        "batches": batches,
        "frames": frames,
        "connect_s": round(connected, 3),
        "first_page_s": round(first_page or 0.0, 3),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    room = args.room or f"bench-catchup-{uuid.uuid4().hex[:8]}"
    seeded = time.perf_counter()
    if args.seed == "command":
        await asyncio.to_thread(seed_with_command, room, args.messages)
    else:
        await seed_over_websocket(args.url, room, args.messages, args.senders, args.window)
    seed_s = time.perf_counter() - seeded
    result = await time_catch_up(args.url, room, args.messages)
    return {
        "messages": args.messages,
        **result,
        "room": room,
        "seed": args.seed,
        "seed_s": round(seed_s, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server (default {DEFAULT_URL})")
    parser.add_argument("--messages", type=int, default=10_000, help="messages missed")
    parser.add_argument("--seed", choices=("ws", "command"), default="ws", help="how to fill")
    parser.add_argument("--room", default=None, help="room to use (default: a fresh one)")
    parser.add_argument("--senders", type=int, default=8, help="connections posting (ws seed)")
    parser.add_argument("--window", type=int, default=100, help="unacknowledged per sender")
    args = parser.parse_args()
    if args.messages < 1 or args.senders < 1 or args.window < 1:
        parser.error("--messages, --senders and --window must be at least 1")
    try:
        print(json.dumps(asyncio.run(run(args))), flush=True)
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        print(f"bench: cannot reach {args.url}: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
