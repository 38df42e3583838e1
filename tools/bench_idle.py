"""Benchmark: server memory per idle connection, and one broadcast to all of them. Not a test.

    python tools/bench_idle.py (--runchat-pid PID | --pids PID,PID) [--url ws://127.0.0.1:4810]
                               [--connections 10000] [--concurrency 100] [--hold-s 0]

Against a running `manage.py runchat` (its pid names the workers to measure; `--pids` names
server processes directly, e.g. another server speaking the same protocol), it opens
`--connections` WebSockets to one fresh room (each waits for its `history`, so it is a
member), reads the workers' resident memory (VmRSS) before and after, then posts one message
and waits until every connection has it. It prints one JSON line:

    {"connections": 10000, "rss_per_connection_kb": 21.3, "broadcast_loss": 0, ...}

Both this process and the server need a file limit above the connection count: the tool
raises its own soft limit to the hard one; start the server from a shell with
`ulimit -n 20000` (or more). Loopback only: every connection is one local port of this host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import websockets

TIMEOUT_S = 60.0
JOIN_ATTEMPTS = 5
_retries: list[str] = []


def worker_pids(runchat_pid: int) -> list[int]:
    """The daphne children of a runchat process."""
    children = Path(f"/proc/{runchat_pid}/task/{runchat_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def join(url: str, slots: asyncio.Semaphore, *, history: bool) -> websockets.ClientConnection:
    """Connect and read until the history page: the connection is then a room member.

    Without `history` (a server that sends nothing on join) the open socket has to do.
    """
    async with slots:
        for attempt in range(1, JOIN_ATTEMPTS + 1):
            try:
                ws = await asyncio.wait_for(
                    websockets.connect(
                        url, ping_interval=None, max_size=None, open_timeout=TIMEOUT_S
                    ),
                    TIMEOUT_S,
                )
                while history and json.loads(await _recv(ws))["type"] != "history":
                    pass
                return ws
            except (OSError, TimeoutError, websockets.WebSocketException):
                # A storm of handshakes on a loaded machine can time one out; holding the
                # connections is what is measured, so that one tries again.
                _retries.append(url)
                if attempt == JOIN_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")


async def _recv(ws: websockets.ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), TIMEOUT_S)


class Member:
    """One open connection that reads everything, as a client does: a client that stops
    reading is cut off by the server (its pings go unanswered). Remembers the messages' texts."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.texts: set[str] = set()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                frame = json.loads(raw)
                for event in frame["events"] if frame["type"] == "batch" else [frame]:
                    if event.get("type") == "message":
                        self.texts.add(event["text"])

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def open_member(url: str, slots: asyncio.Semaphore, *, history: bool) -> Member:
    """Join, then read on at once (the others may take minutes to join)."""
    return Member(await join(url, slots, history=history))


async def wait_for_text(members: list[Member], text: str, deadline: float) -> int:
    """How many members received the message with `text` by the deadline."""
    while time.monotonic() < deadline and not all(text in m.texts for m in members):
        await asyncio.sleep(0.05)
    return sum(text in m.texts for m in members)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    room = f"bench-idle-{uuid.uuid4().hex[:8]}"
    base = f"{args.url.rstrip('/')}/ws/rooms/{quote(room)}/?name="
    pids = [int(p) for p in args.pids.split(",")] if args.pids else worker_pids(args.runchat_pid)
    slots = asyncio.Semaphore(args.concurrency)
    history = not args.no_history
    sender = await open_member(base + "sender", slots, history=history)
    before = {pid: rss_kb(pid) for pid in pids}
    began = time.monotonic()
    members = await asyncio.gather(
        *(open_member(f"{base}idle{i}", slots, history=history) for i in range(args.connections))
    )
    joined_s = time.monotonic() - began
    await asyncio.sleep(2)  # let the workers settle (buffers freed, tasks parked)
    after = {pid: rss_kb(pid) for pid in pids}
    if args.hold_s:
        print(f"holding {args.connections} connections for {args.hold_s} s", file=sys.stderr)
        await asyncio.sleep(args.hold_s)
    dropped = sum(m.reader.done() for m in [sender, *members])
    text = f"to all {uuid.uuid4().hex}"
    sent_at = time.monotonic()
    await sender.ws.send(json.dumps({"type": "message", "text": text, "client_id": "bench-idle"}))
    got = await wait_for_text(members, text, sent_at + TIMEOUT_S)
    broadcast_s = time.monotonic() - sent_at
    for member in [sender, *members]:
        await member.close()
    growth = sum(after.values()) - sum(before.values())
    return {
        "connections": args.connections,
        "workers": len(pids),
        "rss_before_kb": before,
        "rss_after_kb": after,
        "rss_per_connection_kb": round(growth / args.connections, 1),
        "join_s": round(joined_s, 1),
        "join_retries": len(_retries),
        "dropped_while_idle": dropped,
        "broadcast_received": got,
        "broadcast_loss": args.connections - got,
        "broadcast_s": round(broadcast_s, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="ws://127.0.0.1:4810")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--runchat-pid", type=int, help="pid of manage.py runchat")
    which.add_argument("--pids", help="comma-separated pids of the server processes")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes at once")
    parser.add_argument(
        "--no-history", action="store_true", help="the server sends nothing on join (a peer)"
    )
    parser.add_argument(
        "--hold-s",
        type=float,
        default=0,
        help="keep the connections open this long after measuring (to inspect the server)",
    )
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 100:
        print(f"file limit {hard} is below {args.connections} connections", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
