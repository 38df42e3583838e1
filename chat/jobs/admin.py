"""Admin: the Jobs page, the queue's figures and the latest jobs (no relational table)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.infra import syncbridge
from chat.jobs import queue, records, selectors, service
from chat.models import Job
from chat.web.storeadmin import StoreListAdmin

log = logging.getLogger(__name__)

LAST_JOBS = 50
LAST_DEAD = 20
STORE_TIMEOUT_S = 30.0
REFRESH_S = 5


@dataclass(frozen=True)
class _Overview:
    status: queue.QueueStatus
    jobs: list[records.Job]
    dead: list[dict[str, str]]


async def _overview() -> _Overview:
    status, jobs, dead = await asyncio.gather(
        selectors.queue_status(),
        selectors.job_list(limit=LAST_JOBS),
        queue.dead_letters(count=LAST_DEAD),
    )
    return _Overview(status=status, jobs=jobs, dead=dead)


@admin.register(Job)
class JobAdmin(StoreListAdmin):
    """The Jobs page: queue depth, in flight, retries, dead letters, workers, last jobs."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Show the queue and the latest jobs; the page reloads itself every few seconds."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.current_app = self.admin_site.name
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Jobs",
            "refresh_s": REFRESH_S,
            **(extra_context or {}),
        }
        try:
            overview = syncbridge.run(_overview(), timeout=STORE_TIMEOUT_S)
        except (PyMongoError, RedisError, TimeoutError) as exc:
            log.warning("admin could not read the job queue: %s", exc)
            context["store_error"] = "The job queue or store is not reachable; try again shortly."
            return TemplateResponse(request, "admin/chat/jobs.html", context, status=503)
        context.update(
            status=overview.status,
            jobs=[
                {
                    "job": job,
                    "params": ", ".join(f"{k}={v}" for k, v in sorted(job.params.items())),
                    "result_url": service.result_url(job.id)
                    if job.status == records.COMPLETED
                    else None,
                }
                for job in overview.jobs
            ],
            dead=overview.dead,
        )
        return TemplateResponse(request, "admin/chat/jobs.html", context)
