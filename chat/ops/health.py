"""Liveness and readiness probes for load balancers and docker-compose healthchecks."""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, JsonResponse
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.infra.clients import mongo_db, redis_ping

PROBE_TIMEOUT_S = 2.0


async def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


async def _redis_ok() -> bool:
    try:
        return await asyncio.wait_for(redis_ping(), PROBE_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError):
        return False


async def _mongo_ok() -> bool:
    try:
        reply = await asyncio.wait_for(mongo_db().command("ping"), PROBE_TIMEOUT_S)
    except (PyMongoError, OSError, TimeoutError):
        return False
    return bool(reply.get("ok"))


async def readyz(request: HttpRequest) -> JsonResponse:
    """Redis and MongoDB both answer: 200; otherwise 503 naming what is down."""
    redis_ok, mongo_ok = await asyncio.gather(_redis_ok(), _mongo_ok())
    checks = {"redis": "ok" if redis_ok else "down", "mongo": "ok" if mongo_ok else "down"}
    ready = redis_ok and mongo_ok
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )
