"""Benchmark: the same room load over WebSockets, event streams and long-polls, in one run.

    python tools/localstack.py --private -- python tools/bench_transports.py \
        [--clients 1000] [--senders 2] [--messages 50] [--rate 20] [--workers 2]

For each transport it starts a fresh runchat (limits off), joins `--clients` receivers to one
room over that transport, reads the workers' resident memory before and after they join,
then has `--senders` WebSocket clients post `--messages` each at `--rate` messages/s, every
text carrying its send time. It prints one row per transport (deliveries/s, p50/p99 latency
from send to receipt, messages not stored, stored ones lost, duplicated, KiB of server
memory per client) and the ratios to
the WebSocket row. The receivers run in this process, on the same 2 cores as the server:
quote the ratios of one run, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chatserver import ChatServer, run_chat_server  # noqa: E402
from tests.sse_client import SseClient  # noqa: E402
from tools.bench_idle import rss_kb, worker_pids  # noqa: E402

TRANSPORTS = ("websocket", "stream", "poll")
# A joined receiver's stop: cancel its reading, close its connection.
Receiver = Callable[[], Any]
JOIN_CONCURRENCY = 50
SETTLE_S = 3.0


class Tally:
    """What the receivers got: seqs per receiver, latencies, the last arrival."""

    def __init__(self) -> None:
        self.got: Counter[tuple[int, int]] = Counter()
        self.latencies: list[float] = []
        self.last = 0.0

    def take(self, receiver: int, events: list[dict[str, Any]]) -> None:
        now = time.time()
        for event in events:
            if event.get("type") == "batch":
                self.take(receiver, event["events"])
            elif event.get("type") == "message" and event["text"].startswith("t="):
                self.got[(receiver, event["seq"])] += 1
                self.latencies.append(now - float(event["text"][2:]))
                self.last = now


async def websocket_receiver(
    server: ChatServer, room: str, n: int, tally: Tally
) -> Callable[[], Any]:
    ws = await websockets.connect(server.ws_url(room, f"r{n}"), ping_interval=None, max_size=None)
    while json.loads(await ws.recv())["type"] != "history":
        pass

    async def run() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in ws:
                tally.take(n, [json.loads(frame)])

    task = asyncio.ensure_future(run())

    async def stop() -> None:
        task.cancel()
        await ws.close()

    return stop


async def stream_receiver(server: ChatServer, room: str, n: int, tally: Tally) -> Receiver:
    stream = await SseClient.open(server.port, room, f"r{n}")
    await stream.expect("history", timeout=60)

    async def run() -> None:
        while (event := await stream.next(timeout=3600)) is not None:
            if event.data and event.event == "message":
                tally.take(n, [event.json()])

    task = asyncio.ensure_future(run())

    async def stop() -> None:
        task.cancel()
        await stream.close()

    return stop


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> Any:
    """One GET on a kept-alive connection; its JSON body (chunked or with a length)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    if "content-length:" in head:
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        return json.loads(await reader.readexactly(length))
    body = b""
    while size := int((await reader.readline()).strip(), 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readline()  # the empty line after the last chunk
    return json.loads(body)


async def poll_receiver(server: ChatServer, room: str, n: int, tally: Tally) -> Receiver:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    base = f"/api/rooms/{room}/events"
    body = await _get(reader, writer, f"{base}?welcome=true&name=r{n}")

    async def run() -> None:
        last = body["last_seq"]
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                polled = await _get(reader, writer, f"{base}?after_seq={last}&wait_s=25")
                tally.take(n, polled["events"])
                last = polled["last_seq"]

    task = asyncio.ensure_future(run())

    async def stop() -> None:
        task.cancel()
        writer.close()

    return stop


RECEIVERS = {"websocket": websocket_receiver, "stream": stream_receiver, "poll": poll_receiver}


async def send_all(server: ChatServer, room: str, senders: int, messages: int, rate: float) -> int:
    """Post the messages; how many were stored (acknowledged), which is what is expected."""

    async def sender(s: int) -> int:
        async with websockets.connect(server.ws_url(room, f"sender{s}")) as ws:
            for m in range(messages):
                frame = {"type": "message", "text": f"t={time.time()}", "client_id": f"{s}-{m}"}
                await ws.send(json.dumps(frame))
                await asyncio.sleep(1 / rate)
            acked: set[str] = set()
            answered = 0
            while answered < messages:
                for event in _events(json.loads(await asyncio.wait_for(ws.recv(), 30))):
                    if event["type"] in ("ack", "error") and event.get("client_id"):
                        answered += 1
                        if event["type"] == "ack":
                            acked.add(event["client_id"])
            return len(acked)

    return sum(await asyncio.gather(*(sender(s) for s in range(senders))))


def _events(frame: dict[str, Any]) -> list[dict[str, Any]]:
    return frame["events"] if frame["type"] == "batch" else [frame]


def _rss(server: ChatServer) -> int:
    return sum(rss_kb(pid) for pid in worker_pids(server.process.pid) if pid)


async def measure(transport: str, server: ChatServer, args: argparse.Namespace) -> dict[str, Any]:
    room = f"bench-{uuid.uuid4().hex[:8]}"
    tally = Tally()
    stop = await poll_receiver(server, f"warm-{room}", -1, tally)  # Django's first request
    await stop()
    before = _rss(server)
    slots = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def join(n: int) -> Callable[[], Any]:
        async with slots:
            return await RECEIVERS[transport](server, room, n, tally)

    stops = await asyncio.gather(*(join(n) for n in range(args.clients)))
    await asyncio.sleep(SETTLE_S)  # joins announced, memory settled
    per_client_kb = (_rss(server) - before) / args.clients
    started = time.time()
    stored = await send_all(server, room, args.senders, args.messages, args.rate)
    expected = stored * args.clients
    deadline = time.monotonic() + 60
    while len(tally.got) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for stop in stops:
        await stop()
    latencies = sorted(tally.latencies)
    elapsed = max(tally.last - started, 1e-9)
    return {
        "transport": transport,
        "clients": args.clients,
        "deliveries_per_s": round(len(tally.got) / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        "not_stored": args.senders * args.messages - stored,
        "lost": expected - len(tally.got),
        "duplicated": sum(count - 1 for count in tally.got.values()),
        "server_kib_per_client": round(per_client_kb, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000, help="receivers per transport")
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--messages", type=int, default=50, help="per sender")
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s per sender")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    args = parser.parse_args()
    env = {"CHAT_RATE_PER_S": "0", "CHAT_MAX_CONNECTIONS_PER_WORKER": "0"}
    rows = []
    for transport in args.transports.split(","):
        with run_chat_server(workers=args.workers, env=env) as server:
            row = asyncio.run(measure(transport, server, args))
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]
    for row in rows[1:]:
        ratios = {
            key: round(row[key] / base[key], 2) if base[key] else None
            for key in ("deliveries_per_s", "p99_ms", "server_kib_per_client")
        }
        print(f"{row['transport']}/{base['transport']}: {json.dumps(ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
