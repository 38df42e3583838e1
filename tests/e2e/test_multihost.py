"""Three app hosts behind HAProxy on a 6-node Redis Cluster, under steady load in several
rooms: one host SIGKILLed, then the Redis primary holding a room's keys SIGKILLed (its
replica is promoted), then that node started again (it rejoins as a replica).

Each fault reports what was sent and acknowledged meanwhile and how long until every room
was acknowledging again; at the end, per room and in all: sent, stored, acknowledged,
delivered, lost and duplicated. Page-like clients (tests/reliable_client.py) resend by
client_id and resume by seq, so the target is 0 lost and 0 duplicated.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.cluster import ClusterNode, RedisCluster

from chat.messages import sequencing
from tests.e2e.steadyload import PAGE_LIKE, STORE_TIMEOUT_MS, first_join, settle_and_check
from tests.e2e.test_faults import Burst, open_room, stored_messages
from tests.support.multihost import MultiHostStack, multihost_stack

pytestmark = [pytest.mark.services, pytest.mark.timeout(400)]

ROOMS, SENDERS, RECEIVERS, PER_SENDER, PACE_S = 3, 2, 4, 300, 0.1
"""10 msg/s per sender, 60 msg/s in all, for about 30 s: long enough for three faults."""


@pytest.fixture(scope="module")
def stack() -> Iterator[MultiHostStack]:
    """The three hosts, HAProxy, the cluster and FerretDB, shared by the module."""
    env = {"CHAT_STORE_TIMEOUT_MS": str(STORE_TIMEOUT_MS)}
    with multihost_stack(env=env) as running:
        yield running


RECOVERY_BOUND_S = 30.0
RESUMED_ACKS = 3
"""A room counts as recovered once this many of its messages were acked after the fault."""


def owner_of(stack: MultiHostStack, key: str) -> int:
    """Port of the primary owning the key's slot now."""
    host, port = stack.cluster.url.removeprefix("redis+cluster://").split(",")[0].split(":")
    client = RedisCluster(startup_nodes=[ClusterNode(host, int(port))], socket_timeout=2)
    try:
        return int(client.get_node_from_key(key).port)
    finally:
        client.close()


async def recovery_time(bursts: list[Burst], started: float) -> float:
    """Seconds from `started` until every room had RESUMED_ACKS new acks (bounded)."""
    marks = [burst.acked() for burst in bursts]

    async def resumed() -> None:
        while any(b.acked() < m + RESUMED_ACKS for b, m in zip(bursts, marks, strict=True)):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(resumed(), RECOVERY_BOUND_S)
    return time.monotonic() - started


def sent_count(bursts: list[Burst]) -> int:
    return sum(len(s.sent) for b in bursts for s in b.senders)


def acked_count(bursts: list[Burst]) -> int:
    return sum(b.acked() for b in bursts)


async def test_steady_load_through_a_lost_host_and_a_redis_failover(stack: MultiHostStack) -> None:
    """Sent messages are all stored once and acked; every receiver ends with every stored
    seq of its room, none twice, through all three faults."""
    rooms = [f"mh-{i}-{time.monotonic_ns() % 100000}" for i in range(ROOMS)]
    for room in rooms:
        await first_join(stack, room)
    bursts = [
        await open_room(stack, room, senders=SENDERS, receivers=RECEIVERS, **PAGE_LIKE)
        for room in rooms
    ]
    total = ROOMS * SENDERS * PER_SENDER
    phases: list[dict[str, Any]] = []
    killed_node: list[int] = []

    async def kill_host() -> None:
        await asyncio.to_thread(stack.kill_host, 0)

    async def kill_primary() -> None:
        port = await asyncio.to_thread(owner_of, stack, sequencing.counter_key(rooms[0]))
        killed_node.append(port)
        await asyncio.to_thread(stack.cluster.stop_node, port)

    async def restart_node() -> None:
        await asyncio.to_thread(stack.cluster.start_node, killed_node[0])

    faults: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("kill_app_host", kill_host),
        ("kill_redis_primary", kill_primary),
        ("restart_redis_node", restart_node),
    ]
    sending = asyncio.gather(
        *(
            s.send_many(PER_SENDER, window=50, timeout=300, pace_s=PACE_S)
            for b in bursts
            for s in b.senders
        )
    )
    try:
        for index, (name, fault) in enumerate(faults):
            threshold = total * (index + 1) // (len(faults) + 1)
            async with asyncio.timeout(120):
                while acked_count(bursts) < threshold:
                    await asyncio.sleep(0.05)
            sent0, acked0, started = sent_count(bursts), acked_count(bursts), time.monotonic()
            await fault()
            recovered = await recovery_time(bursts, started)
            phases.append(
                {
                    "fault": name,
                    "sent": sent_count(bursts) - sent0,
                    "acked": acked_count(bursts) - acked0,
                    "recovery_s": round(recovered, 2),
                }
            )
            print(f"\n[multihost] {phases[-1]}", end="")
        await asyncio.wait_for(sending, 180)
        await asyncio.wait_for(
            asyncio.gather(*(s.wait_acked(60) for b in bursts for s in b.senders)), 90
        )
        healthy_in = await asyncio.to_thread(stack.cluster.wait_healthy)
        print(f"\n[multihost] cluster healthy again {healthy_in:.1f}s after the load", end="")
        totals: Counter[str] = Counter()
        for room, burst in zip(rooms, bursts, strict=True):
            stored = await stored_messages(burst)
            await settle_and_check(f"multihost_{room}", burst, [])
            counts = room_counts(burst, stored)
            totals.update(counts)
            print(f"\n[multihost] {room}: {counts}", end="")
        print(f"\n[multihost] all rooms: {dict(totals)}; faults: {phases}")
        assert totals["lost"] == 0 and totals["duplicated"] == 0, dict(totals)
        assert totals["sent"] == totals["stored"] == totals["acknowledged"] == total
    finally:
        sending.cancel()
        for burst in bursts:
            await burst.close()


def room_counts(burst: Burst, stored: list[dict[str, Any]]) -> dict[str, int]:
    """The issue's counts for one room once every client settled."""
    seqs = {doc["seq"] for doc in stored}
    copies = Counter(doc.get("client_id") for doc in stored)
    receivers = burst.receivers
    return {
        "sent": sum(len(s.sent) for s in burst.senders),
        "stored": len(stored),
        "acknowledged": burst.acked(),
        "delivered": sum(len(set(c.shown_seqs()) & seqs) for c in receivers),
        "lost": sum(len(seqs - set(c.shown_seqs())) for c in receivers),
        "duplicated": sum(n - 1 for n in copies.values() if n > 1)
        + sum(len(c.conflicts) for c in burst.members),
        "reconnects": sum(c.stats.connects - 1 for c in burst.members),
        # How the receivers first got each message: the broadcast, a page they asked for
        # to fill a gap, or a page pushed at a join or resume (reported, not asserted).
        "live": sum(c.stats.live for c in receivers),
        "gap_fetched": sum(c.stats.gap_fetched for c in receivers),
        "catch_up": sum(c.stats.catch_up for c in receivers),
    }
