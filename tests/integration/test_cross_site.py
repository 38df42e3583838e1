"""Cross-site writes riding on a signed-in user's session cookie are refused (403)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.identity import tokens
from chat.messages import pages

pytestmark = pytest.mark.django_db(transaction=True)

EVIL = "http://evil.example"


@pytest.fixture
async def signed_in() -> AsyncClient:
    """A browser of a signed-in user whose CSRF checks are not waived (unlike test clients')."""
    client = AsyncClient(enforce_csrf_checks=True)
    user = await get_user_model().objects.acreate_user("carol", password="pw-not-checked-here")
    await client.aforce_login(user)
    return client


def message(room: str, text: str) -> tuple[str, str]:
    return f"/api/rooms/{room}/messages", json.dumps({"text": text, "author": "carol"})


async def stored_texts(room: str) -> list[str]:
    return [m.text for m in (await pages.page_before(room, before_seq=None, limit=10)).messages]


async def test_a_text_plain_post_from_another_site_is_refused_and_stores_nothing(
    signed_in: AsyncClient, room: str
) -> None:
    path, body = message(room, "forged")
    posted = await signed_in.post(path, body, content_type="text/plain", headers={"Origin": EVIL})
    job = await signed_in.post(
        "/api/jobs",
        json.dumps({"kind": "export", "room": room, "name": "carol"}),
        content_type="text/plain",
        headers={"Origin": EVIL},
    )
    assert (posted.status_code, posted.json()["code"]) == (403, "cross_site")
    assert (job.status_code, job.json()["code"]) == (403, "cross_site")
    assert await stored_texts(room) == []


async def test_the_sites_own_page_may_post(signed_in: AsyncClient, room: str) -> None:
    path, body = message(room, "from our page")
    posted = await signed_in.post(
        path, body, content_type="application/json", headers={"Origin": "http://testserver"}
    )
    assert posted.status_code == 201, posted.content
    assert await stored_texts(room) == ["from our page"]


@pytest.mark.parametrize("with_token", [True, False])
async def test_without_an_origin_the_csrf_token_decides(
    signed_in: AsyncClient, room: str, with_token: bool
) -> None:
    page = await signed_in.get("/")  # sets the csrftoken cookie, as the page would have
    token = page.cookies["csrftoken"].value
    headers: dict[str, Any] = {"X-CSRFToken": token} if with_token else {}
    path, body = message(room, "scripted")
    posted = await signed_in.post(path, body, content_type="application/json", headers=headers)
    assert posted.status_code == (201 if with_token else 403), posted.content
    assert await stored_texts(room) == (["scripted"] if with_token else [])


async def test_without_the_session_cookie_there_is_nothing_to_forge(room: str) -> None:
    """A guest's post carries no credential of anyone's: it is what any client may send."""
    client = AsyncClient(enforce_csrf_checks=True)
    path, body = message(room, "as a guest")
    posted = await client.post(path, body, content_type="text/plain", headers={"Origin": EVIL})
    assert posted.status_code == 201, posted.content


async def test_a_token_needs_no_csrf_even_beside_the_session_cookie(
    signed_in: AsyncClient, room: str
) -> None:
    """The token is what authenticates; the cookie the browser adds does not matter."""
    user = await get_user_model().objects.aget(username="carol")
    _, raw = await sync_to_async(tokens.create_token)(user, name="bot", scopes=["chat"])
    path, body = message(room, "with a token")
    posted = await signed_in.post(
        path,
        body,
        content_type="text/plain",
        headers={"Origin": EVIL, "Authorization": f"bearer {raw}"},
    )
    assert posted.status_code == 201, posted.content
