"""Lazily created, per-event-loop clients for Redis and MongoDB.

Async clients bind to the loop they first run on; daphne has one loop per process,
tests and management commands may have several, so each loop gets its own client.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

_redis: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)
_mongo: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMongoClient[Any]] = (
    weakref.WeakKeyDictionary()
)


def redis() -> aioredis.Redis:
    """The Redis client of the running loop."""
    loop = asyncio.get_running_loop()
    client = _redis.get(loop)
    if client is None:
        # Blocking pool: a burst of sends waits for a free connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=64,
            timeout=5,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
        client = _redis[loop] = aioredis.Redis(connection_pool=pool)
    return client


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
    if client is not None:
        await client.aclose(close_connection_pool=True)
    mongo = _mongo.pop(loop, None)
    if mongo is not None:
        await mongo.close()
