"""A guest's scheduled messages and jobs belong to their browser's signed key, not to the
name they typed: another caller using the same name gets 404 and sees nothing."""

from __future__ import annotations

import json
import time

import pytest
from django.test import AsyncClient

from chat.identity import guests

pytestmark = pytest.mark.django_db(transaction=True)


async def browser(room: str) -> AsyncClient:
    """A guest's browser that has opened the room's page (and so holds a guest key)."""
    client = AsyncClient()
    page = await client.get(f"/r/{room}/")
    assert guests.key_from(page.cookies[guests.COOKIE].value) is not None
    return client


async def schedule(client: AsyncClient, room: str) -> str:
    body = {"text": "later", "author": "ivy", "deliver_at": int(time.time() * 1000) + 600_000}
    answer = await client.post(
        f"/api/rooms/{room}/scheduled", json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 201, answer.content
    return str(answer.json()["id"])


@pytest.mark.parametrize("other", ["another browser", "no cookie", "a forged cookie"])
async def test_another_identity_cannot_list_or_cancel_a_guests_scheduled_message(
    room: str, other: str
) -> None:
    ivy = await browser(room)
    scheduled = await schedule(ivy, room)
    intruder = await browser(room) if other == "another browser" else AsyncClient()
    if other == "a forged cookie":
        intruder.cookies[guests.COOKIE] = "someone-else:forged"
    url = f"/api/rooms/{room}/scheduled"
    seen = await intruder.get(url, {"author": "ivy"})
    cancelled = await intruder.delete(f"{url}/{scheduled}?author=ivy")
    assert (seen.status_code, seen.json()["items"]) == (200, [])
    assert (cancelled.status_code, cancelled.json()["code"]) == (404, "not_found")
    own = await ivy.get(url, {"author": "ivy"})
    assert [item["id"] for item in own.json()["items"]] == [scheduled]
    assert (await ivy.delete(f"{url}/{scheduled}?author=ivy")).status_code == 204


async def test_a_guests_jobs_are_listed_for_their_browser_only(room: str) -> None:
    ivy, other = await browser(room), await browser(room)
    body = json.dumps({"kind": "stats", "room": room, "name": "ivy"})
    started = await ivy.post("/api/jobs", body, content_type="application/json")
    assert started.status_code == 202, started.content
    mine = (await ivy.get("/api/jobs", {"name": "ivy"})).json()["items"]
    theirs = (await other.get("/api/jobs", {"name": "ivy"})).json()["items"]
    assert [job["id"] for job in mine] == [started.json()["id"]] and theirs == []


async def test_a_job_and_its_result_are_404_to_anyone_but_its_owner(room: str) -> None:
    ivy, other = await browser(room), await browser(room)
    body = json.dumps({"kind": "stats", "room": room, "name": "ivy"})
    job = (await ivy.post("/api/jobs", body, content_type="application/json")).json()
    assert (await ivy.get(f"/api/jobs/{job['id']}")).status_code == 200
    for path in (f"/api/jobs/{job['id']}", f"/api/jobs/{job['id']}/result"):
        for intruder, params in ((other, {}), (AsyncClient(), {"name": "ivy"})):
            refused = await intruder.get(path, params)
            assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
