"""The channel layer on a Redis Cluster: sharded pub/sub, each group on the shard owning it.

channels_redis talks to every host as a plain server: its PUBLISH on a cluster goes over the
cluster bus to every node, so every node carries every broadcast. Here a group is a shard
channel named with a hash tag of its own (`asgi__group__{room.x}`): SPUBLISH goes to the
primary owning that slot, which forwards it to its subscribers (and replicas) only, and each
process keeps one SSUBSCRIBE connection per primary it has members on. Local channels
(`new_local_channel`) and the one pass over a group's members are chat.server.channellayer's.

Failover: when a node's subscription connection fails (its primary died and a replica is
being promoted), its channels are subscribed again at whichever node the cluster's slot map
names once it names a live one, retrying until then. What was published meanwhile is lost
(pub/sub is at-most-once), so the loss and the repair are reported to
chat.broadcast.recovery, whose watcher catches members up from MongoDB. A slot moved by
resharding arrives as a SUNSUBSCRIBE of its channels from the old owner: repaired the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat.broadcast import recovery
from chat.server.channellayer import ChatChannelLayer, _LoopLayer, _Shard

log = logging.getLogger(__name__)

REPAIR_BACKOFF_S = (0.2, 0.5, 1.0, 2.0)
# Pings an idle subscription this often, so a node that vanished without closing is noticed.
HEALTH_CHECK_S = 5
_FAILURES = (RedisError, OSError, TimeoutError)


class ClusterChannelLayer(ChatChannelLayer):
    """ChatChannelLayer over sharded pub/sub; CONFIG: `nodes` [[host, port], ...], `options`."""


class _ClusterLoopLayer(_LoopLayer):
    def __init__(
        self, nodes: list[list[Any]], options: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(None, **kwargs)
        self._shards = [_ClusterShard(nodes, options or {}, self)]

    def _get_shard(self, channel_or_group_name: str) -> _ClusterShard:
        return self._shards[0]

    def _get_group_channel_name(self, group: str) -> str:
        return f"{self.prefix}__group__{{{group}}}"


ClusterChannelLayer.loop_layer_class = _ClusterLoopLayer


class _ClusterShard(_Shard):
    """Every shard channel of one event loop: SPUBLISH through the cluster client, one
    SSUBSCRIBE connection per primary, and the repair of subscriptions a failover broke."""

    def __init__(self, nodes: list[list[Any]], options: dict[str, Any], layer: _LoopLayer) -> None:
        super().__init__({}, layer)
        self._startup = [ClusterNode(str(host), int(port)) for host, port in nodes]
        self._options = options
        self._cluster: RedisCluster | None = None
        self._wanted: set[str] = set()
        self._where: dict[str, str] = {}  # channel -> name of the node it is subscribed at
        self._nodes: dict[str, _NodeSubscriber] = {}
        # Our own SUNSUBSCRIBEs not confirmed yet: their confirmations are not slot moves.
        self._leaving: dict[str, int] = {}
        self._repair_task: asyncio.Task[None] | None = None

    def _client(self) -> RedisCluster:
        if self._cluster is None:
            self._cluster = RedisCluster(
                startup_nodes=self._startup,
                socket_connect_timeout=2,
                socket_timeout=5,
                **self._options,
            )
        return self._cluster

    async def publish(self, channel: str, message: bytes) -> None:
        # No lock, unlike channels_redis: the cluster client pools connections per node, and
        # a room's broadcasts are already one at a time per worker (chat.messages.writebatch).
        await self._client().spublish(channel, message)

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            self._wanted.add(channel)
            if channel not in self._where:
                await self._subscribe_at_owner(channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            self._wanted.discard(channel)
            subscriber = self._nodes.get(self._where.pop(channel, ""))
            if subscriber is not None:
                self._leaving[channel] = self._leaving.get(channel, 0) + 1
                with contextlib.suppress(*_FAILURES):
                    await subscriber.pubsub.sunsubscribe(channel)

    async def _subscribe_at_owner(self, channel: str) -> None:
        cluster = self._client()
        await cluster.initialize()
        node = cluster.get_node_from_key(channel)
        subscriber = self._nodes.get(node.name)
        if subscriber is None:
            subscriber = self._nodes[node.name] = _NodeSubscriber(self, node)
        try:
            await subscriber.pubsub.ssubscribe(channel)
        except _FAILURES:
            if not subscriber.pubsub.shard_channels.keys() - {channel.encode(), channel}:
                self._nodes.pop(node.name, None)
                await subscriber.close()
            raise
        self._where[channel] = node.name

    def node_lost(self, subscriber: _NodeSubscriber, exc: BaseException | None) -> None:
        """A node's subscription connection failed: its channels need a new home."""
        if self._nodes.get(subscriber.name) is subscriber:
            del self._nodes[subscriber.name]
        for channel in [c for c, name in self._where.items() if name == subscriber.name]:
            del self._where[channel]
        log.warning("sharded pub/sub lost node %s (%s); re-subscribing", subscriber.name, exc)
        recovery.note_broadcast_failed()
        self._ensure_repair()

    def channel_moved(self, subscriber: _NodeSubscriber, channel: str) -> None:
        """A SUNSUBSCRIBE arrived: ours confirmed, or the node dropped us (its slot moved)."""
        if self._leaving.get(channel):
            self._leaving[channel] -= 1
            if not self._leaving[channel]:
                del self._leaving[channel]
            return
        if self._where.get(channel) == subscriber.name and channel in self._wanted:
            del self._where[channel]
            recovery.note_broadcast_failed()
            self._ensure_repair()

    def _ensure_repair(self) -> None:
        if self._repair_task is None or self._repair_task.done():
            self._repair_task = asyncio.get_running_loop().create_task(
                self._repair(), name="chat-cluster-resubscribe"
            )

    async def _repair(self) -> None:
        attempt = 0
        while True:
            async with self._lock:
                missing = sorted(self._wanted - set(self._where))
                try:
                    if self._cluster is not None:
                        # The slot map as the cluster sees it now, not as it was cached.
                        await self._cluster.nodes_manager.initialize()
                    for channel in missing:
                        await self._subscribe_at_owner(channel)
                except _FAILURES as exc:
                    log.info("sharded pub/sub re-subscribe failed (%s); retrying", exc)
                else:
                    if missing:
                        log.warning("sharded pub/sub re-subscribed %d channels", len(missing))
                        # Published between the watcher's catch-up and now: catch up again.
                        recovery.note_broadcast_failed()
                    return
            await asyncio.sleep(REPAIR_BACKOFF_S[min(attempt, len(REPAIR_BACKOFF_S) - 1)])
            attempt += 1

    async def flush(self) -> None:
        async with self._lock:
            if self._repair_task is not None:
                self._repair_task.cancel()
                self._repair_task = None
            subscribers, self._nodes = list(self._nodes.values()), {}
            for subscriber in subscribers:
                await subscriber.close()
            self._wanted, self._where = set(), {}
            if self._cluster is not None:
                with contextlib.suppress(*_FAILURES):
                    await self._cluster.aclose()
                self._cluster = None


class _NodeSubscriber:
    """One SSUBSCRIBE connection to one primary and the task reading it.

    It never reconnects by itself: a failed connection goes back to the shard, which asks
    the cluster where the channels live now (a restarted node may be a replica).
    """

    def __init__(self, shard: _ClusterShard, node: ClusterNode) -> None:
        self.shard = shard
        self.name = node.name
        self.client = aioredis.Redis(
            host=node.host,
            port=node.port,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=HEALTH_CHECK_S,
            retry=Retry(NoBackoff(), 0),
            **shard._options,
        )
        self.pubsub = self.client.pubsub()
        self._task = asyncio.get_running_loop().create_task(
            self._read(), name=f"chat-ssubscribe-{self.name}"
        )

    async def _read(self) -> None:
        error: BaseException | None = None
        try:
            while True:
                if not self.pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self.pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                kind = message["type"]
                if kind == "smessage":
                    self.shard._receive_message(message)
                elif kind == "sunsubscribe":
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    self.shard.channel_moved(self, channel)
        except asyncio.CancelledError:
            raise
        except _FAILURES as exc:
            error = exc
        except Exception as exc:  # a reader must hand its channels back whatever broke it
            log.exception("sharded pub/sub reader of %s failed", self.name)
            error = exc
        self.shard.node_lost(self, error)
        await self._disconnect()

    async def _disconnect(self) -> None:
        with contextlib.suppress(*_FAILURES):
            await self.pubsub.aclose()
        with contextlib.suppress(*_FAILURES):
            await self.client.aclose()

    async def close(self) -> None:
        """Stop reading and close the connection (the layer is flushed)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._disconnect()
