"""Every Prometheus metric of the project, and their exposition summed over all workers.

runchat points PROMETHEUS_MULTIPROC_DIR at a fresh directory before it starts its workers,
so each worker writes its samples there and one scrape of any worker reads them all.
Without that variable (tests, management commands) metrics live in the process only.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

P = ParamSpec("P")
R = TypeVar("R")

# Milliseconds to seconds: a chat's interesting range for one hop.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONNECTIONS_OPEN = Gauge(
    "chat_connections_open", "WebSockets joined to a room now", multiprocess_mode="livesum"
)
CONNECTIONS_REFUSED = Counter(
    "chat_connections_refused_total", "WebSockets refused at connect, by error code", ["code"]
)
MESSAGES_RECEIVED = Counter(
    "chat_messages_received_total", "`message` events received from clients (refused ones too)"
)
MESSAGES_STORED = Counter("chat_messages_stored_total", "messages written to MongoDB")
MESSAGES_DELIVERED = Counter(
    "chat_messages_delivered_total", "broadcast messages forwarded to a client"
)
RATE_LIMITED = Counter(
    "chat_rate_limited_total", "events refused with `rate_limited` (per-connection bucket)"
)
FANOUT_SECONDS = Histogram(
    "chat_fanout_seconds",
    "from publishing stored messages to forwarding them to one client (one per broadcast)",
    buckets=_LATENCY_BUCKETS,
)
MONGO_SECONDS = Histogram(
    "chat_mongo_op_seconds", "MongoDB operation latency", ["op"], buckets=_LATENCY_BUCKETS
)
REDIS_SECONDS = Histogram(
    "chat_redis_op_seconds", "Redis operation latency", ["op"], buckets=_LATENCY_BUCKETS
)
# Backlogs are read from Redis when scraped; every worker sees the same value.
SCHEDULED_PENDING = Gauge(
    "chat_scheduled_pending", "scheduled messages not yet delivered", multiprocess_mode="mostrecent"
)
JOB_QUEUE_DEPTH = Gauge(
    "chat_job_queue_depth",
    "jobs waiting in the job queue, not yet taken by a worker",
    multiprocess_mode="mostrecent",
)


def _timed(
    histogram: Histogram, op: str
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a coroutine function so each call's duration lands in `histogram{op}`."""
    child = histogram.labels(op)

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                child.observe(time.perf_counter() - start)

        return timed

    return decorate


def mongo_op(op: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Time a MongoDB operation as `chat_mongo_op_seconds{op=...}`."""
    return _timed(MONGO_SECONDS, op)


def redis_op(op: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Time a Redis operation as `chat_redis_op_seconds{op=...}`."""
    return _timed(REDIS_SECONDS, op)


def observe_fanout(published_at: float, *, messages: int = 1) -> None:
    """A broadcast of `messages` stored together reached one client: count them, and time it.

    One observation per broadcast, not per message: its messages all took the same time, and
    a multiprocess sample costs microseconds, paid once per recipient.
    """
    MESSAGES_DELIVERED.inc(messages)
    FANOUT_SECONDS.observe(max(0.0, time.time() - published_at))


def registry() -> CollectorRegistry:
    """What a scrape reads: every worker's samples under runchat, this process's otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of `registry()` and its content type."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def collect() -> list[Metric]:
    """The metric families of `registry()` (for the status page)."""
    return list(registry().collect())
