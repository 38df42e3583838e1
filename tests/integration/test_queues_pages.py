"""The staff pages of the queues: /status/queues, the queue table on /status, /api-docs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.infra import syncbridge
from chat.queues import registry, services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue with 2 messages ready, 1 delayed; deleted afterwards."""
    name = f"page-{uuid.uuid4().hex[:8]}"

    async def fill() -> None:
        await services.queue_put(name=name, visibility_s=7, max_receives=4)
        await services.message_send(queue=name, body=1)
        await services.message_send(queue=name, body=2)
        await services.message_send(queue=name, body=3, delay_s=60)

    syncbridge.run(fill())
    yield name
    syncbridge.run(registry.delete(name))
    syncbridge.shutdown()


@pytest.fixture
def staff() -> Client:
    get_user_model().objects.create_user("opal", password="pw-opal-12345", is_staff=True)
    client = Client()
    client.login(username="opal", password="pw-opal-12345")
    return client


def test_the_queues_page_shows_each_queues_counts_to_staff_only(queue: str, staff: Client) -> None:
    assert Client().get("/status/queues")["Location"].startswith("/admin/login/")
    page = staff.get("/status/queues")
    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index(f"<td>{queue}</td>") :].split("</tr>")[0]
    assert "<td>2</td><td>0</td><td>1</td><td>0</td>" in row and "<td>7</td><td>4</td>" in row
    assert 'http-equiv="refresh" content="2"' in html


def test_the_status_page_has_the_queue_table_too(queue: str, staff: Client) -> None:
    html = staff.get("/status").content.decode()
    assert 'id="queues"' in html and f"<td>{queue}</td>" in html


def test_api_docs_opens_the_api_documentation() -> None:
    answer = Client().get("/api-docs")
    assert (answer.status_code, answer["Location"]) == (302, "/api/docs")
    assert Client().get("/api/docs").status_code == 200
