"""/metrics on a two-worker runchat: one scrape shows what the whole session did."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import Any

from bench.chatbench import parse_metrics
from tests.chatserver import ChatServer, clients_on_both_workers, run_chat_server
from tests.conftest import require_services

PER_CLIENT = 3


def scrape(server: ChatServer) -> dict[str, Any]:
    """One /metrics scrape, as {sample: value} (whichever worker answers it)."""
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse_metrics(response.read().decode())


async def scrape_until(server: ChatServer, wanted: dict[str, float], timeout: float = 10) -> None:
    """Scrape until every wanted sample has its value (counters land just after a send)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, server)
        seen = {name: samples.get(name) for name in wanted}
        if seen == wanted:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"/metrics shows {seen}, wanted {wanted}")
        await asyncio.sleep(0.2)


async def test_metrics_count_a_session_summed_over_both_workers(room: str) -> None:
    """Two clients on different workers send 3 messages each: every scrape shows the totals."""
    require_services()
    with run_chat_server(workers=2) as server:
        first, second = await clients_on_both_workers(server, room)
        try:
            await scrape_until(server, {"chat_connections_open": 2.0})
            for n, client in enumerate((first, second)):
                for i in range(PER_CLIENT):
                    await client.send({"type": "message", "text": "hi", "client_id": f"c{n}-{i}"})
            sent = 2 * PER_CLIENT
            for client in (first, second):
                kinds: list[str] = []
                while len(kinds) < PER_CLIENT + sent:
                    kind = (await client.recv(timeout=30))["type"]
                    if kind in ("ack", "message"):  # presence events come and go meanwhile
                        kinds.append(kind)
                assert sorted(kinds) == ["ack"] * PER_CLIENT + ["message"] * sent
            totals = {
                "chat_messages_received_total": float(sent),
                "chat_messages_stored_total": float(sent),
                "chat_messages_delivered_total": float(2 * sent),
                "chat_connections_open": 2.0,
            }
            # Several scrapes, so both workers answer one at least once: each sums them all.
            for _ in range(6):
                await scrape_until(server, totals)
            samples = await asyncio.to_thread(scrape, server)
        finally:
            await first.close()
            await second.close()
        await scrape_until(server, {"chat_connections_open": 0.0})
    # Messages sent at once are stored together: one insert and one publish per write group.
    groups = samples['chat_mongo_op_seconds_count{op="insert"}']
    assert 1 <= groups <= sent
    assert samples['chat_redis_op_seconds_count{op="publish"}'] == groups
    # Each of the two clients received each group's broadcast once.
    assert samples["chat_fanout_seconds_count"] == 2 * groups
    assert samples["chat_rate_limited_total"] == 0
    assert samples["chat_scheduled_pending"] >= 0
    assert samples["chat_job_queue_depth"] >= 0
