"""The admin "Jobs" page: the queue's figures, live workers and the latest jobs, for staff."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from chat.infra import syncbridge
from chat.infra.clients import redis
from chat.jobs import queue, records, service

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def job_queue(settings: Any) -> Iterator[str]:
    """A queue of this test's own, deleted afterwards; the bridge loop stops at the end."""
    prefix = f"test:jobsadmin:{uuid.uuid4().hex[:10]}"
    settings.CHAT_JOB_QUEUE = prefix
    yield prefix

    async def drop() -> None:
        keys = [key async for key in redis().scan_iter(match=f"{{{prefix}}}:*")]
        if keys:
            await redis().delete(*keys)

    syncbridge.run(drop())
    syncbridge.shutdown()


@pytest.fixture
def url() -> str:
    return reverse("admin:chat_job_changelist")


def test_jobs_page_shows_queue_figures_workers_and_latest_jobs(
    admin_client: Client, url: str, room: str
) -> None:
    """A queued job counts as waiting, a dead letter as dead, a heartbeat as a worker."""
    owner = f"op-{uuid.uuid4().hex[:6]}"

    async def setup() -> records.Job:
        await queue.ensure_group()
        job = await service.job_create(kind="export", params={"room": room}, owner=owner)
        still_waiting = await service.job_create(kind="stats", params={"room": room}, owner=owner)
        entry, _wake = await queue.take("op-1", turn=0)
        assert entry is not None and entry.job_id == job.id
        await queue.dead_letter(entry, error="boom", attempts=10)
        await queue.heartbeat(
            "jobs-test", info={"name": "jobs-test", "concurrency": 2, "busy": 1}, ttl_ms=10_000
        )
        return still_waiting

    waiting = syncbridge.run(setup())
    response = admin_client.get(url)
    assert response.status_code == 200
    status = response.context["status"]
    assert (status.waiting, status.in_flight, status.dead) == (1, 0, 1)
    assert [w.name for w in status.workers] == ["jobs-test"]
    html = response.content.decode()
    assert "jobs-test" in html and "1 of 2" in html
    assert waiting.id[:8] in html and owner in html and "boom" in html
    assert 'http-equiv="refresh"' in html


def test_jobs_page_is_listed_in_the_admin_index(admin_client: Client, url: str) -> None:
    """The Chat section links to Jobs."""
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert f'href="{url}"' in html and ">Jobs<" in html


def test_jobs_page_needs_staff_with_the_view_permission(client: Client, url: str) -> None:
    """Anonymous visitors go to the login page; staff without the permission get 403."""
    assert client.get(url).status_code == 302
    User.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    client.login(username="clerk", password="pw-clerk-123")
    assert client.get(url).status_code == 403
