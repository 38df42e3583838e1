"""Benchmark: queue messages produced -> received -> acknowledged per second. Not a test.

    python tools/localstack.py --private -- python tools/queuebench.py
    python tools/queuebench.py [--messages 20000] [--single-messages 2000] [--producers 4]
                               [--consumers 4] [--batch 100] [--workers 2]

In one run it measures, on the Redis in REDIS_URL:
  raw   one Python client looping XADD / XREADGROUP COUNT 100 / XACK+XDEL on a bare stream;
  http  a runchat of --workers workers (started here), --producers clients each POSTing
        messages one by one and --consumers clients each receiving up to 100 and DELETEing
        each with its receipt;
  batch the same, sending and acknowledging --batch messages per request.
Each prints messages/s from the first send to the last ack, the send->ack latency
percentiles, and checks that every message was acknowledged exactly once:

    {"mode": "http", "messages": 20000, "msgs_per_s": ..., "latency_ms": {...},
     "lost": 0, "acked_twice": 0, "ratio_to_raw": ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

import django  # noqa: E402

django.setup()

from bench.chatbench import percentile  # noqa: E402
from chat.infra.clients import close_all, redis  # noqa: E402
from chat.infra.httpjson import JsonClient  # noqa: E402
from tests.chatserver import ChatServer, run_chat_server  # noqa: E402


def summary(
    mode: str, sent: dict[str, float], acks: list[tuple[str, float]], started: float
) -> dict[str, Any]:
    """Throughput, latency and the exactly-once check of one run."""
    counted = Counter(message_id for message_id, _ in acks)
    ended = max(at for _, at in acks) if acks else time.monotonic()
    latencies = sorted((at - sent[mid]) * 1000 for mid, at in acks if mid in sent)
    return {
        "mode": mode,
        "messages": len(sent),
        "msgs_per_s": round(len(counted) / (ended - started)),
        "latency_ms": {q: round(percentile(latencies, q / 100), 1) for q in (50, 90, 99)},
        "lost": len(set(sent) - set(counted)),
        "acked_twice": sum(1 for n in counted.values() if n > 1),
    }


async def raw_loop(messages: int) -> dict[str, Any]:
    """XADD / XREADGROUP / XACK from one client: the floor the API is compared with."""
    stream = f"bench:raw:{{{uuid.uuid4().hex[:8]}}}:stream"
    client = redis()
    await client.xgroup_create(stream, "g", id="0", mkstream=True)
    sent: dict[str, float] = {}
    acks: list[tuple[str, float]] = []
    started = time.monotonic()

    async def produce() -> None:
        for i in range(messages):
            entry = await client.xadd(stream, {"b": json.dumps({"n": i})})
            sent[entry] = time.monotonic()

    async def consume() -> None:
        while len(acks) < messages:
            reply = await client.xreadgroup("g", "c", {stream: ">"}, count=100, block=1000)
            ids = [entry for _, rows in reply or [] for entry, _ in rows]
            if ids:
                await client.xack(stream, "g", *ids)
                await client.xdel(stream, *ids)
                now = time.monotonic()
                acks.extend((entry, now) for entry in ids)

    await asyncio.gather(produce(), consume())
    await client.delete(stream)
    return summary("raw", sent, acks, started)


async def http_run(
    server: ChatServer, token: str, *, messages: int, producers: int, consumers: int, batch: int
) -> dict[str, Any]:
    """Producers and consumers over the API; `batch` 1 is one request per message."""
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    admin = JsonClient(server.http_url, token=token)
    await admin.request("PUT", f"/api/queues/{queue}", {"visibility_s": 60, "max_receives": 0})
    sent: dict[str, float] = {}
    acks: list[tuple[str, float]] = []
    per_producer = messages // producers
    started = time.monotonic()

    async def produce() -> None:
        client = JsonClient(server.http_url, token=token)
        for start in range(0, per_producer, batch):
            if batch == 1:
                answer = await client.request(
                    "POST", f"/api/queues/{queue}/messages", {"body": {"n": start}}
                )
                ids = [answer.body["id"]]
            else:
                bodies = [
                    {"body": {"n": start + i}} for i in range(min(batch, per_producer - start))
                ]
                answer = await client.request(
                    "POST", f"/api/queues/{queue}/messages/batch", {"messages": bodies}
                )
                ids = answer.body["ids"]
            now = time.monotonic()
            for message_id in ids:
                sent[message_id] = now
        await client.close()

    async def consume() -> None:
        client = JsonClient(server.http_url, token=token)
        while len(acks) < per_producer * producers:
            answer = await client.request(
                "POST", f"/api/queues/{queue}/receive", {"max": 100, "wait_s": 1}
            )
            got = answer.body["messages"]
            if batch == 1:
                for message in got:
                    done = await client.request(
                        "DELETE",
                        f"/api/queues/{queue}/messages/{message['id']}?receipt={message['receipt']}",
                    )
                    if done.status == 204:
                        acks.append((message["id"], time.monotonic()))
            elif got:
                pairs = [{"id": m["id"], "receipt": m["receipt"]} for m in got]
                done = await client.request("POST", f"/api/queues/{queue}/ack", {"messages": pairs})
                now = time.monotonic()
                acks.extend((message_id, now) for message_id in done.body["acked"])
        await client.close()

    await asyncio.gather(
        *(produce() for _ in range(producers)), *(consume() for _ in range(consumers))
    )
    await admin.request("DELETE", f"/api/queues/{queue}")
    await admin.close()
    return summary("http" if batch == 1 else f"batch{batch}", sent, acks, started)


async def main(args: argparse.Namespace, server: ChatServer, token: str) -> None:
    raw = await raw_loop(args.messages)
    print(json.dumps(raw), flush=True)
    for batch in (1, args.batch):
        result = await http_run(
            server,
            token,
            messages=args.single_messages if batch == 1 else args.messages,
            producers=args.producers,
            consumers=args.consumers,
            batch=batch,
        )
        result["ratio_to_raw"] = round(result["msgs_per_s"] / raw["msgs_per_s"], 3)
        print(json.dumps(result), flush=True)
    await close_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--single-messages", type=int, default=2000, help="messages of the one-by-one run"
    )
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    env = {"LOG_LEVEL": "WARNING", "CHAT_SCHEDULER_IN_WORKERS": "1"}
    with run_chat_server(workers=options.workers, env=env) as running:
        bot = f"bench{uuid.uuid4().hex[:6]}"
        asyncio.run(main(options, running, running.create_token(bot, "queues")))
