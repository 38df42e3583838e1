"""Redis Cluster: every script keeps to one slot, broadcasts go by sharded pub/sub, and the
layer re-subscribes after a primary fails (a private 6-node cluster, tools/rediscluster.py)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from chat.broadcast import recovery
from chat.infra.clients import is_cluster, redis
from chat.infra.redisurl import parse
from chat.limits import connlimits
from chat.messages import historytail, sequencing
from chat.presence import store as presence
from chat.protocol import group_name
from chat.scheduled import store as scheduler
from chat.server.clusterlayer import ClusterChannelLayer
from tests.support.tools import load_tool

pytestmark = pytest.mark.services
WAIT_S = 20.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A private cluster for the module (3 primaries, 3 replicas), stopped at the end."""
    data = Path(tempfile.mkdtemp(prefix="chatsite-cluster-test-"))
    try:
        with load_tool("rediscluster").redis_cluster(data) as nodes:
            yield nodes
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def on_cluster(cluster: Any) -> Iterator[Any]:
    """The app's clients pointed at the cluster for one test."""
    with override_settings(REDIS_URL=cluster.url):
        assert is_cluster()
        yield cluster


def layer_of(cluster: Any) -> ClusterChannelLayer:
    config = parse(cluster.url)
    return ClusterChannelLayer(
        nodes=[list(n) for n in config.nodes], prefix=f"t{uuid.uuid4().hex[:6]}"
    )


async def cluster_client() -> RedisCluster:
    """The app's client of the running loop, with its slot map loaded."""
    client = redis()
    assert isinstance(client, RedisCluster)
    await client.initialize()
    return client


async def until(check: Any, timeout: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def test_a_rooms_keys_share_one_slot_per_family() -> None:
    """Each family's keys of a room carry the room as hash tag: one slot per script."""
    room = "lobby"
    for keys in (
        [historytail._key(room), historytail._generation_key(room)],
        [
            presence.names_key(room),
            presence._version_key(room),
            presence._counted_key(room),
            presence._conns_prefix(room) + "alice",
        ],
        [sequencing.counter_key(room)],
        [connlimits.open_key("10.0.0.1"), connlimits.rate_key("10.0.0.1")],
        [scheduler.IDS, scheduler.DUE, scheduler.LEASES, scheduler.MSG_PREFIX + "1"],
        [scheduler.BY_PREFIX + f"{room}:bob", scheduler.CID_PREFIX + f"{room}:c1"],
    ):
        assert len({key_slot(key.encode()) for key in keys}) == 1, keys
    assert key_slot(scheduler.IDS.encode()) == key_slot(scheduler.BY_PREFIX.encode())


async def test_every_script_runs_on_the_cluster(on_cluster: Any, room: str) -> None:
    """Seqs, tail, presence, connection limits and scheduled messages: no CROSSSLOT."""
    first = await sequencing.next_seqs(room, 3)
    assert await sequencing.next_seq(room) == first + 3
    await historytail.add(room, historytail.holes([first]))
    assert await presence.add(room=room, name="alice", conn="c1") > 0
    beat = await presence.heartbeat(room=room, conns=[("alice", "c1")])
    assert beat.gone == [] and room in await presence.occupied_rooms(100)
    assert (await presence.members(room)).names == ["alice"]
    assert (await presence.announcing(room, list_max=10))[0] == 1
    assert await presence.remove(room=room, name="alice", conn="c1") > 0
    address = f"10.9.{uuid.uuid4().int % 250}.1"
    assert await connlimits.admit_address("k1", address, per_address=2, new_per_s=5) == "ok"
    await connlimits.renew({"k1": address, "k2": f"{address}0"})
    scheduled = await scheduler.schedule(
        room=room, author="bob", text="later", due_ms=None, client_id="s1", holder="bob"
    )
    claim = await scheduler.claim(lease_ms=5000, owner="t")
    while isinstance(claim, scheduler.Claim) and claim.room != room:  # another test's
        await scheduler.finish(claim.id, message_id="x")
        claim = await scheduler.claim(lease_ms=5000, owner="t")
    assert isinstance(claim, scheduler.Claim) and claim.id == scheduled.id
    assert claim.seq == first + 4  # taken from the room's own counter, in a second step
    await scheduler.release(claim.id, retry_ms=0)
    again = await scheduler.claim(lease_ms=5000, owner="t")
    assert isinstance(again, scheduler.Claim) and again.seq == claim.seq  # kept
    await scheduler.finish(again.id, message_id="m")


async def test_broadcasts_go_by_sharded_pubsub_to_the_owning_primary(on_cluster: Any) -> None:
    """A group's messages reach local members through SSUBSCRIBE at the slot's owner;
    nothing is published the classic way (which every node would carry)."""
    layer = layer_of(on_cluster)
    try:
        got: dict[str, list[dict[str, Any]]] = {}
        groups = [group_name(f"r{i}") for i in range(12)]  # spread over the 3 shards
        for group in groups:
            await layer.group_add(group, layer.new_local_channel(got.setdefault(group, []).append))
        for n, group in enumerate(groups):
            await layer.group_send(group, {"type": "chat.message", "n": n})
        await until(lambda: all(got[g] for g in groups))
        assert [got[g] for g in groups] == [[{"type": "chat.message", "n": n}] for n in range(12)]
        client = await cluster_client()
        channel = layer._get_layer()._get_group_channel_name(groups[0])
        owner = client.get_node_from_key(channel)
        counts = await client.execute_command("PUBSUB SHARDNUMSUB", channel, target_nodes=owner)
        assert counts == [channel, 1] or dict(counts) == {channel: 1}
        assert await client.pubsub_numpat() == 0
    finally:
        await layer.flush()


async def test_the_layer_resubscribes_after_a_primary_fails(on_cluster: Any) -> None:
    """Kill the primary a group lives on: once its replica is promoted, the group's
    messages arrive again, and the recovery watcher was told broadcasts were at risk."""
    layer = layer_of(on_cluster)
    killed: int | None = None
    try:
        got: list[dict[str, Any]] = []
        group = group_name("failover")
        await layer.group_add(group, layer.new_local_channel(got.append))
        await layer.group_send(group, {"type": "t", "n": 0})
        await until(lambda: got)
        channel = layer._get_layer()._get_group_channel_name(group)
        client = await cluster_client()
        killed = client.get_node_from_key(channel).port
        recovery._broadcast_failed = False
        await asyncio.to_thread(on_cluster.stop_node, killed)
        took = await asyncio.to_thread(on_cluster.wait_healthy)

        async def delivered_again() -> None:
            n = 1
            while not any(m["n"] > 0 for m in got):
                with contextlib.suppress(Exception):  # the slot map may name the dead node
                    await layer.group_send(group, {"type": "t", "n": n})
                n += 1
                await asyncio.sleep(0.2)

        await asyncio.wait_for(delivered_again(), WAIT_S)
        print(f"\n[cluster failover] promoted in {took:.1f}s; layer delivering again")
        assert recovery._broadcast_failed, "the watcher was not told broadcasts were lost"
    finally:
        await layer.flush()
        if killed is not None:
            await asyncio.to_thread(on_cluster.start_node, killed)
            await asyncio.to_thread(on_cluster.wait_healthy)
            await asyncio.to_thread(on_cluster.wait_synced)
