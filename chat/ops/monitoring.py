"""/metrics for Prometheus and the staff-only /status page that shows the same numbers."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.exceptions import RedisError

from chat.jobs import selectors as job_selectors
from chat.ops import metrics
from chat.queues import services as queue_services
from chat.scheduled import store as scheduler

log = logging.getLogger(__name__)

STATUS_REFRESH_S = 5
QUEUES_REFRESH_S = 2
# (sample name, label on the status page), in the order shown.
COUNTS = (
    ("chat_connections_open", "Connections open"),
    ("chat_connections_refused_total", "Connections refused"),
    ("chat_messages_received_total", "Messages received"),
    ("chat_messages_stored_total", "Messages stored"),
    ("chat_messages_delivered_total", "Messages delivered"),
    ("chat_rate_limited_total", "Rate-limit rejections"),
    ("chat_scheduled_pending", "Scheduled messages pending"),
    ("chat_job_queue_depth", "Job queue depth"),
)
LATENCIES = (
    ("chat_fanout_seconds", "Fan-out (publish to client)"),
    ("chat_mongo_op_seconds", "MongoDB"),
    ("chat_redis_op_seconds", "Redis"),
)


async def refresh_backlogs() -> None:
    """Read the backlogs kept in Redis into their gauges, just before a scrape."""
    try:
        metrics.SCHEDULED_PENDING.set(await scheduler.pending_count())
    except RedisError as exc:
        log.warning("scheduled backlog not read for metrics: %s", exc)
    try:
        metrics.JOB_QUEUE_DEPTH.set((await job_selectors.queue_status()).waiting)
    except RedisError as exc:
        log.warning("job queue not read for metrics: %s", exc)


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition, summed over every runchat worker."""
    await refresh_backlogs()
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)


@dataclass(frozen=True)
class LatencyRow:
    """One histogram (or one label of it) as the status page shows it."""

    name: str
    count: int
    mean_ms: float | None
    p50_ms: float | None
    p99_ms: float | None


def totals(families: list[metrics.Metric]) -> dict[str, float]:
    """Every sample name's value summed over its labels."""
    out: dict[str, float] = {}
    for family in families:
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile `q` of cumulative (le, count) pairs."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    wanted = q * buckets[-1][1]
    for le, cumulative in sorted(buckets):
        if cumulative >= wanted:
            return le
    return math.inf


@dataclass
class _Histogram:
    count: float = 0.0
    total: float = 0.0
    buckets: list[tuple[float, float]] = field(default_factory=list)


def latency_rows(families: list[metrics.Metric], name: str, title: str) -> list[LatencyRow]:
    """Count, mean and bucket-bound p50/p99 in ms of a histogram, one row per `op` label."""
    grouped: dict[str, _Histogram] = {}
    for family in families:
        if family.name != name:
            continue
        for sample in family.samples:
            entry = grouped.setdefault(sample.labels.get("op", ""), _Histogram())
            if sample.name.endswith("_bucket"):
                entry.buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                entry.count = sample.value
            elif sample.name.endswith("_sum"):
                entry.total = sample.value
    rows = []
    for op, entry in sorted(grouped.items()):
        p50, p99 = bucket_quantile(entry.buckets, 0.5), bucket_quantile(entry.buckets, 0.99)
        rows.append(
            LatencyRow(
                name=f"{title}: {op}" if op else title,
                count=int(entry.count),
                mean_ms=round(entry.total / entry.count * 1000, 2) if entry.count else None,
                p50_ms=None if p50 is None else p50 * 1000,
                p99_ms=None if p99 is None else p99 * 1000,
            )
        )
    return rows


async def queue_views() -> list[queue_services.QueueView] | None:
    """Every integrator queue with its counts; None when Redis does not answer."""
    try:
        return await queue_services.queue_list()
    except RedisError as exc:
        log.warning("queues not read for the status page: %s", exc)
        return None


@staff_member_required
async def status_view(request: HttpRequest) -> HttpResponse:
    """The figures of /metrics and the queues' counts as a page for staff; it reloads itself
    (no script needed)."""
    await refresh_backlogs()
    families = metrics.collect()
    summed = totals(families)
    counts = [(label, int(summed.get(name, 0))) for name, label in COUNTS]
    latencies = [row for name, title in LATENCIES for row in latency_rows(families, name, title)]
    return render(
        request,
        "chat/status.html",
        {
            "counts": counts,
            "latencies": latencies,
            "queues": await queue_views(),
            "refresh_s": STATUS_REFRESH_S,
        },
    )


@staff_member_required
async def queues_view(request: HttpRequest) -> HttpResponse:
    """Every queue's counts for staff, reloading every QUEUES_REFRESH_S (the seed's tool)."""
    return render(
        request,
        "chat/queues.html",
        {"queues": await queue_views(), "refresh_s": QUEUES_REFRESH_S},
    )
