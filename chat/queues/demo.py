"""The seed's producer and consumer apps, over the queue API: `manage.py queue_produce` and
`queue_consume` run these; tests call them too.

The producer sends to random queues at random intervals; the consumer receives from each
queue, works a random while and acknowledges, and now and then works longer than the
visibility, so its receipt is stale and the message comes back to another receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chat.infra.httpjson import JsonClient

DEFAULT_QUEUES = ("demo-orders", "demo-emails", "demo-reports")
Say = Callable[[str], None]


@dataclass
class Tally:
    """What a run did, for its progress lines and for tests."""

    produced: int = 0
    acked: int = 0
    stale: int = 0
    redelivered: int = 0
    ids: set[str] = field(default_factory=set)


async def ensure_queues(client: JsonClient, queues: tuple[str, ...], *, visibility_s: int) -> None:
    """Create the queues (or set their visibility)."""
    for queue in queues:
        answer = await client.request("PUT", f"/api/queues/{queue}", {"visibility_s": visibility_s})
        if answer.status not in (200, 201):
            raise RuntimeError(f"PUT /api/queues/{queue}: {answer.status} {answer.body}")


async def produce(
    *,
    client: JsonClient,
    queues: tuple[str, ...] = DEFAULT_QUEUES,
    count: int | None = None,
    interval_s: tuple[float, float] = (0.05, 0.5),
    stop: asyncio.Event,
    say: Say = print,
) -> Tally:
    """Send `count` messages (None: until `stop`), each to a random queue after a random pause."""
    tally = Tally()
    rng = random.Random()
    while not stop.is_set() and (count is None or tally.produced < count):
        queue = rng.choice(queues)
        body = {"n": tally.produced + 1, "queue": queue, "sent_at": time.time()}
        answer = await client.request("POST", f"/api/queues/{queue}/messages", {"body": body})
        if answer.status != 201:
            say(f"produce to {queue} refused: {answer.status} {answer.body}")
        else:
            tally.produced += 1
            tally.ids.add(answer.body["id"])
            say(f"produced #{tally.produced} {answer.body['id']} to {queue}")
        await _pause(stop, rng.uniform(*interval_s))
    return tally


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


async def consume(
    *,
    client: JsonClient,
    queues: tuple[str, ...] = DEFAULT_QUEUES,
    visibility_s: int = 2,
    work_s: tuple[float, float] = (0.01, 0.3),
    slow_chance: float = 0.1,
    stop: asyncio.Event,
    until_acked: int | None = None,
    say: Say = print,
) -> Tally:
    """Receive from every queue in turn and acknowledge; a slow one (`slow_chance`) works past
    its visibility, so its ack is refused as stale and the message is received again."""
    worker = _Consumer(client, visibility_s, work_s, slow_chance, Tally(), say)
    while not stop.is_set() and (until_acked is None or worker.tally.acked < until_acked):
        got_any = False
        for queue in queues:
            answer = await client.request(
                "POST", f"/api/queues/{queue}/receive", {"max": 5, "visibility_s": visibility_s}
            )
            for message in (answer.body or {}).get("messages", []):
                got_any = True
                await worker.work(queue, message)
        if not got_any:
            await _pause(stop, 0.2)
    return worker.tally


@dataclass
class _Consumer:
    client: JsonClient
    visibility_s: int
    work_s: tuple[float, float]
    slow_chance: float
    tally: Tally
    say: Say
    rng: random.Random = field(default_factory=random.Random)

    async def work(self, queue: str, message: dict[str, Any]) -> None:
        """Work on one message (too long, now and then), then acknowledge it."""
        slow = self.rng.random() < self.slow_chance
        if int(message["receives"]) > 1:
            self.tally.redelivered += 1
        await asyncio.sleep(self.visibility_s + 0.5 if slow else self.rng.uniform(*self.work_s))
        mid = message["id"]
        answer = await self.client.request(
            "DELETE", f"/api/queues/{queue}/messages/{mid}?receipt={message['receipt']}"
        )
        if answer.status == 204:
            self.tally.acked += 1
            self.tally.ids.add(mid)
            self.say(
                f"acked {mid} from {queue} (receive {message['receives']}, "
                f"{self.tally.acked} acked)"
            )
        elif answer.status in (404, 409):
            self.tally.stale += 1
            self.say(f"took too long on {mid} from {queue}: {answer.body['code']}; it comes back")
        else:
            self.say(f"ack of {mid} failed: {answer.status} {answer.body}")
