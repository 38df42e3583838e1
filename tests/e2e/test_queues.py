"""Room-bound queues on a real runchat with two workers, one of them SIGKILLed mid-burst."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from chat.infra.httpjson import JsonClient
from chat.queues import demo
from tests.chatserver import ROOT, ChatServer, run_chat_server
from tests.conftest import require_services

WAIT_S = 60.0


def worker_pids(server: ChatServer) -> list[int]:
    pid = server.process.pid
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    require_services()
    env = {"CHAT_QUEUE_ROOM_GAP_MS": "2000", "CHAT_QUEUE_ROOM_POLL_MS": "200"}
    with run_chat_server(workers=2, env=env) as running:
        yield running


def post_until_stored(url: str, text: str, client_id: str) -> int:
    """POST a message, resending with its client_id until a worker confirms it (bounded)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            answer = requests.post(
                url, json={"text": text, "author": "poster", "client_id": client_id}, timeout=5
            )
            if answer.status_code == 201:
                return int(answer.json()["seq"])
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{client_id} never stored")


def test_a_room_bound_queue_gets_every_message_once_in_order_across_a_worker_sigkill(
    server: ChatServer, room: str
) -> None:
    """120 messages posted to both workers while one is SIGKILLed: the queue holds each
    stored message exactly once, in seq order."""
    bot = requests.Session()
    bot.headers["Authorization"] = f"Bearer {server.create_token('qbot', 'queues')}"
    api = f"{server.http_url}/api"
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    before = post_until_stored(f"{api}/rooms/{room}/messages", "before binding", "c-before")
    made = bot.put(f"{api}/queues/{queue}", json={"room": room, "visibility_s": 30}, timeout=10)
    assert made.status_code == 201, made.text
    url = f"{api}/rooms/{room}/messages"
    with ThreadPoolExecutor(8) as pool:
        posts = [pool.submit(post_until_stored, url, f"m{i}", f"c{i}") for i in range(120)]
        while sum(p.done() for p in posts) < 40:
            time.sleep(0.01)
        os.kill(worker_pids(server)[0], signal.SIGKILL)
        seqs = sorted(p.result() for p in posts)
    assert len(set(seqs)) == 120 and seqs[0] > before
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT_S
    while len(received) < 120 and time.monotonic() < deadline:
        got = bot.post(f"{api}/queues/{queue}/receive", json={"max": 100, "wait_s": 2}, timeout=10)
        for message in got.json()["messages"]:
            received.append(message["body"])
            acked = bot.delete(
                f"{api}/queues/{queue}/messages/{message['id']}",
                params={"receipt": message["receipt"]},
                timeout=10,
            )
            assert acked.status_code == 204
    assert [m["seq"] for m in received] == seqs
    assert sorted(m["text"] for m in received) == sorted(f"m{i}" for i in range(120))
    left = bot.get(f"{api}/queues/{queue}", timeout=10).json()
    assert (left["ready"], left["in_flight"], left["dead"]) == (0, 0, 0)
    assert bot.delete(f"{api}/queues/{queue}", timeout=10).status_code == 204


def test_the_demo_producer_and_a_consumer_slower_than_the_visibility_lose_nothing(
    server: ChatServer,
) -> None:
    """60 messages over 3 queues; the consumer overruns the visibility for a third of them:
    every message is still acknowledged exactly once, the late acks refused."""
    token = server.create_token("demobot", "queues")
    queues = tuple(f"demo-{uuid.uuid4().hex[:6]}" for _ in range(3))

    async def run() -> tuple[demo.Tally, demo.Tally]:
        stop = asyncio.Event()
        producer = JsonClient(server.http_url, token=token)
        consumer = JsonClient(server.http_url, token=token)
        await demo.ensure_queues(producer, queues, visibility_s=1)
        lines: list[str] = []
        try:
            return await asyncio.wait_for(
                asyncio.gather(
                    demo.produce(
                        client=producer,
                        queues=queues,
                        count=60,
                        interval_s=(0, 0.01),
                        stop=stop,
                        say=lines.append,
                    ),
                    demo.consume(
                        client=consumer,
                        queues=queues,
                        visibility_s=1,
                        work_s=(0, 0.01),
                        slow_chance=0.3,
                        stop=stop,
                        until_acked=60,
                        say=lines.append,
                    ),
                ),
                WAIT_S,
            )
        finally:
            await producer.close()
            await consumer.close()

    produced, consumed = asyncio.run(run())
    assert produced.produced == 60 and consumed.acked == 60
    assert consumed.ids == produced.ids
    assert consumed.redelivered >= consumed.stale


def manage(*args: str) -> str:
    """Run a management command; its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_the_queue_commands_print_progress_lines(server: ChatServer) -> None:
    token = server.create_token("cmdbot", "queues")
    queue = f"cmd-{uuid.uuid4().hex[:6]}"
    common = ["--url", server.http_url, "--token", token, "--queues", queue]
    produced = manage("queue_produce", *common, "--count", "5", "--max-interval", "0")
    assert produced.count("produced #") == 5
    consumed = manage("queue_consume", *common, "--until-acked", "5", "--slow", "0")
    assert consumed.count("acked ") >= 5
    assert "queue_consume: 5 acked" in consumed
