"""Lazily created, per-event-loop clients for Redis and MongoDB.

Async clients bind to the loop they first run on; daphne has one loop per process,
tests and management commands may have several, so each loop gets its own client.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from chat.infra.redisurl import RedisTarget
from chat.infra.redisurl import parse as parse_redis_url

# A RedisCluster answers the same commands (each routed to the node owning its key's slot).
AnyRedis = aioredis.Redis | RedisCluster

_redis: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AnyRedis] = weakref.WeakKeyDictionary()
_mongo: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMongoClient[Any]] = (
    weakref.WeakKeyDictionary()
)


_TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 5}
_parsed = functools.lru_cache(maxsize=8)(parse_redis_url)


def redis_target() -> RedisTarget:
    """What REDIS_URL names (a server, a cluster or a sentinel set)."""
    return _parsed(settings.REDIS_URL)


def is_cluster() -> bool:
    """REDIS_URL names a Redis Cluster: scripts must keep to one slot, broadcasts are sharded."""
    return redis_target().is_cluster


def _new_redis(target: RedisTarget) -> AnyRedis:
    if target.kind == "cluster":
        # The client follows MOVED/ASK and refreshes its slot map after a failover. Its pools
        # (one per node) refuse rather than wait when full: sized for a burst, not blocking.
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            decode_responses=True,
            max_connections=512,
            **_TIMEOUTS,
            **target.auth(),
        )
    if target.kind == "sentinel":
        sentinel = Sentinel(list(target.nodes), socket_timeout=2, socket_connect_timeout=2)
        return sentinel.master_for(
            target.service, decode_responses=True, db=target.db, **_TIMEOUTS, **target.auth()
        )
    # Blocking pool: a burst of sends waits for a free connection instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(
        target.url,
        max_connections=64,
        timeout=5,
        decode_responses=True,
        health_check_interval=30,
        **_TIMEOUTS,
    )
    return aioredis.Redis(connection_pool=pool)


def redis() -> AnyRedis:
    """The Redis client of the running loop."""
    loop = asyncio.get_running_loop()
    client = _redis.get(loop)
    if client is None:
        client = _redis[loop] = _new_redis(redis_target())
    return client


async def redis_pubsub() -> Any:
    """A classic (not sharded) pub/sub of the running loop's client; on a cluster its
    messages reach every node, so any node serves the subscription."""
    client = redis()
    if isinstance(client, RedisCluster):
        await client.initialize()  # a cluster's pubsub needs the slot map first
    return client.pubsub(ignore_subscribe_messages=True)


async def redis_ping() -> bool:
    """Whether Redis answers; on a cluster, any one node (a shard's failover is not ours)."""
    client = redis()
    if isinstance(client, RedisCluster):
        return bool(await client.ping(target_nodes=RedisCluster.RANDOM))
    return bool(await client.ping())


def mongo_db() -> AsyncDatabase[Any]:
    """The MongoDB database of the running loop."""
    loop = asyncio.get_running_loop()
    client = _mongo.get(loop)
    if client is None:
        client = _mongo[loop] = AsyncMongoClient(
            settings.MONGO_URL,
            tz_aware=True,
            serverSelectionTimeoutMS=3000,
            connectTimeoutMS=3000,
        )
    return client[settings.MONGO_DB]


async def close_all() -> None:
    """Close the clients of the running loop (end of a command or a test)."""
    loop = asyncio.get_running_loop()
    client = _redis.pop(loop, None)
    if isinstance(client, RedisCluster):
        await client.aclose()
    elif client is not None:
        await client.aclose(close_connection_pool=True)
    mongo = _mongo.pop(loop, None)
    if mongo is not None:
        await mongo.close()
