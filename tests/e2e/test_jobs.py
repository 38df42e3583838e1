"""Jobs end to end: a real runchat with its job worker, REST to start them, sockets to hear."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bench.chatbench import parse_metrics
from tests.chatserver import ChatServer, Client, run_chat_server
from tests.conftest import require_services

pytestmark = pytest.mark.services

WAIT_S = 30.0
TEXTS = ["hello", 'a "quoted", comma', "two\nlines", "ünïcødé ✓", "last one"]


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    """One runchat (one daphne, one job worker) with a queue of its own."""
    require_services()
    env = {
        "CHAT_JOB_WORKER_IN_RUNCHAT": "1",
        "CHAT_JOB_QUEUE": f"e2e:jobs:{uuid.uuid4().hex[:10]}",
        "CHAT_JOB_POLL_MS": "200",
    }
    with run_chat_server(workers=1, env=env) as running:
        yield running


def api(server: ChatServer, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server.http_url}/api{path}", timeout=10, **kw)


def seed(server: ChatServer, room: str) -> list[dict[str, Any]]:
    """Post the texts to the room; return its history as the REST API reads it."""
    for i, text in enumerate(TEXTS):
        body = {"text": text, "author": f"user{i % 2}"}
        assert api(server, "POST", f"/rooms/{room}/messages", json=body).status_code == 201
    history = api(server, "GET", f"/rooms/{room}/messages", params={"limit": 200}).json()
    return [{k: v for k, v in m.items() if k != "type"} for m in history["messages"]]


def start_export(server: ChatServer, room: str, name: str, fmt: str) -> str:
    body = {"kind": "export", "room": room, "format": fmt, "name": name}
    response = api(server, "POST", "/jobs", json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["status"], job["owner"], job["attempts"]) == ("pending", name, 0)
    return job["id"]


def download_as(server: ChatServer, url: str, owner: str) -> requests.Response:
    """A job's result, asked for as `owner` (a guest without cookies names itself)."""
    return requests.get(f"{server.http_url}{url}", params={"name": owner}, timeout=10)


def download(server: ChatServer, url: str, owner: str) -> requests.Response:
    response = download_as(server, url, owner)
    assert response.status_code == 200, response.text
    return response


async def types_before_reply(client: Client) -> list[str]:
    """Ask for something and return the types of the events that came before its answer.

    The consumer handles a socket's frames in order, so whatever its connect sends (job
    notices included) comes before this answer.
    """
    await client.send({"type": "scheduled.list"})
    types = []
    while (event := await client.recv())["type"] != "scheduled.list":
        types.append(event["type"])
    return types


async def wait_completed(server: ChatServer, job_id: str, owner: str) -> dict[str, Any]:
    """Poll the job, as its owner, until it is completed (bounded)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        job = api(server, "GET", f"/jobs/{job_id}", params={"name": owner}).json()
        if job["status"] == "completed":
            return job
        assert job["status"] in ("pending", "running"), job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not complete in {WAIT_S}s")


async def test_an_export_is_announced_on_every_open_socket_of_its_owner(
    server: ChatServer, room: str
) -> None:
    """POST an export; both of alice's sockets get the `job` event, bob's does not, and the
    downloaded file holds exactly the room's history."""
    history = seed(server, room)
    # Names of this test's own: notices other tests left for an "alice" must not interfere.
    alice, bob_name = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    here = await Client.join(server, room, alice)
    elsewhere = await Client.join(server, f"{room}-other", alice)
    bob = await Client.join(server, room, bob_name)
    for client in (here, elsewhere, bob):
        # Once connect() has finished the socket listens for job events.
        await types_before_reply(client)
    try:
        job_id = start_export(server, room, alice, "json")
        events = [await c.expect("job", timeout=WAIT_S) for c in (here, elsewhere)]
        assert all(e == events[0] for e in events)
        assert events[0] == {
            "type": "job",
            "id": job_id,
            "kind": "export",
            "status": "completed",
            "result_url": f"/api/jobs/{job_id}/result",
            "error": None,
        }
        response = download(server, events[0]["result_url"], alice)
        assert download_as(server, events[0]["result_url"], bob_name).status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert "attachment" in response.headers["Content-Disposition"]
        assert response.json() == {"room": room, "messages": history}
        assert "job" not in await types_before_reply(bob), "bob got alice's job event"
        job = api(server, "GET", f"/jobs/{job_id}", params={"name": alice}).json()
        assert (job["status"], job["attempts"]) == ("completed", 1)
        assert job["progress"] == {"done": len(TEXTS), "total": len(TEXTS)}
        listed = api(server, "GET", "/jobs", params={"name": alice}).json()["items"]
        assert [j["id"] for j in listed] == [job_id]
    finally:
        for client in (here, elsewhere, bob):
            await client.close()


async def test_an_owner_offline_at_completion_hears_on_reconnect_until_seen(
    server: ChatServer, room: str
) -> None:
    """The event waits for the owner's next connect, comes again until job.seen, then never."""
    history = seed(server, room)
    name = f"carol-{uuid.uuid4().hex[:6]}"
    job_id = start_export(server, room, name, "csv")
    job = await wait_completed(server, job_id, name)

    for _ in range(2):  # not acknowledged yet: delivered on every connect
        client = await Client.join(server, room, name)
        try:
            event = await client.expect("job")
            assert (event["id"], event["status"]) == (job_id, "completed")
        finally:
            await client.close()

    client = await Client.join(server, room, name)
    try:
        await client.expect("job")
        await client.send({"type": "job.seen", "id": job_id})
        # job.seen has no answer; one to a later frame says it was handled.
        await types_before_reply(client)
    finally:
        await client.close()
    client = await Client.join(server, room, name)
    try:
        assert "job" not in await types_before_reply(client)
    finally:
        await client.close()

    response = download(server, job["result_url"], name)
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [
        {
            "seq": int(r["seq"]),
            "id": r["id"],
            "ts": r["ts"],
            "author": r["author"],
            "text": r["text"],
        }
        for r in rows
    ] == [{k: m[k] for k in ("seq", "id", "ts", "author", "text")} for m in history]


def test_job_errors_are_json_with_a_code_and_the_field(server: ChatServer, room: str) -> None:
    """Bad kinds, rooms and formats are 422 naming the field; unknown jobs are 404."""
    cases = [
        ({"kind": "nope", "room": room, "name": "a"}, "kind"),
        ({"kind": "export", "room": "Bad Room!", "name": "a"}, "room"),
        ({"kind": "stats", "room": room, "name": "a", "format": "csv"}, "format"),
        ({"kind": "export", "room": room, "name": " "}, "name"),
        ({"kind": "export", "room": room}, "name"),
    ]
    for body, field in cases:
        response = api(server, "POST", "/jobs", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, response.json()
    missing = api(server, "GET", f"/jobs/{uuid.uuid4().hex}")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    result = api(server, "GET", f"/jobs/{uuid.uuid4().hex}/result")
    assert result.status_code == 404


async def test_stats_counts_authors_and_hours(server: ChatServer, room: str) -> None:
    """A stats job reports each author's messages and the busiest hour."""
    history = seed(server, room)
    body = {"kind": "stats", "room": room, "name": "dave"}
    job_id = api(server, "POST", "/jobs", json=body).json()["id"]
    job = await wait_completed(server, job_id, "dave")
    stats = json.loads(download(server, job["result_url"], "dave").content)
    assert stats["messages"] == len(history)
    assert stats["authors"] == [
        {"author": "user0", "messages": 3},
        {"author": "user1", "messages": 2},
    ]
    assert sum(h["messages"] for h in stats["hours"]) == len(history)
    assert len(stats["busiest_hours"]) >= 1


def test_metrics_show_the_jobs_waiting_for_a_worker(room: str) -> None:
    """With no worker running, queued jobs are the `chat_job_queue_depth` gauge of /metrics."""
    require_services()
    env = {"CHAT_JOB_QUEUE": f"e2e:depth:{uuid.uuid4().hex[:10]}"}  # runchat starts no worker
    with run_chat_server(workers=1, env=env) as idle:
        for _ in range(2):
            start_export(idle, room, "dora", "json")
        with urllib.request.urlopen(f"{idle.http_url}/metrics", timeout=10) as response:
            samples = parse_metrics(response.read().decode())
    assert samples["chat_job_queue_depth"] == 2.0
