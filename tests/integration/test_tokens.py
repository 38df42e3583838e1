"""Personal API tokens: made once, used as a bearer within their scopes, revoked for good."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import AsyncClient

from chat.identity import tokens
from chat.messages import pages
from chat.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def dana() -> object:
    return await get_user_model().objects.acreate_user("dana", password="pw-not-checked-here")


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


async def make(user: object, *scopes: str) -> str:
    _, raw = await sync_to_async(tokens.create_token)(user, name="bot", scopes=list(scopes))
    return raw


async def test_the_command_prints_a_token_once_and_keeps_only_its_hash(dana: object) -> None:
    out, err = StringIO(), StringIO()
    await sync_to_async(call_command)(
        "create_token",
        "dana",
        "--name",
        "deploy bot",
        "--scope",
        "chat",
        "--scope",
        "jobs",
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip()
    stored = await ApiToken.objects.aget(name="deploy bot")
    assert raw.startswith("cs_") and len(raw) > 40 and "shown only now" in err.getvalue()
    assert stored.digest == tokens.digest(raw) and raw not in stored.digest
    assert stored.scopes == "chat jobs" and stored.last_used_at is None


async def test_a_token_posts_as_its_user_without_csrf_and_records_its_use(
    dana: object, room: str
) -> None:
    raw = await make(dana, "chat")
    client = AsyncClient(enforce_csrf_checks=True)
    posted = await client.post(
        f"/api/rooms/{room}/messages",
        json.dumps({"text": "from the bot", "author": "anyone"}),
        content_type="application/json",
        headers=bearer(raw) | {"Origin": "http://evil.example"},
    )
    assert posted.status_code == 201, posted.content
    page = await pages.page_before(room, before_seq=None, limit=5)
    assert [(m.author, m.account) for m in page.messages] == [("dana", "dana")]
    assert (await ApiToken.objects.aget(digest=tokens.digest(raw))).last_used_at is not None


async def test_a_token_without_the_scope_is_refused_with_403(dana: object, room: str) -> None:
    raw = await make(dana, "chat")
    client = AsyncClient()
    job = await client.post(
        "/api/jobs",
        json.dumps({"kind": "export", "room": room, "name": "dana"}),
        content_type="application/json",
        headers=bearer(raw),
    )
    assert (job.status_code, job.json()["code"]) == (403, "forbidden")
    read = await client.get(f"/api/rooms/{room}/messages", headers=bearer(raw))
    assert read.status_code == 200


@pytest.mark.parametrize("what", ["revoked", "unknown", "malformed", "not bearer"])
async def test_a_bad_token_is_401_never_a_guest(dana: object, room: str, what: str) -> None:
    raw = await make(dana, "chat")
    if what == "revoked":
        token = await ApiToken.objects.aget(digest=tokens.digest(raw))
        assert await sync_to_async(tokens.revoke)(dana, token.pk)
    header = {
        "revoked": f"Bearer {raw}",
        "unknown": "Bearer cs_" + "x" * 43,
        "malformed": "Bearer not-a-token",
        "not bearer": f"Basic {raw}",
    }[what]
    client = AsyncClient()
    posted = await client.post(
        f"/api/rooms/{room}/messages",
        json.dumps({"text": "hi", "author": "guest"}),
        content_type="application/json",
        headers={"Authorization": header},
    )
    read = await client.get(f"/api/rooms/{room}/messages", headers={"Authorization": header})
    assert (posted.status_code, posted.json()["code"]) == (401, "invalid_token")
    assert read.status_code == 401 and read["WWW-Authenticate"].startswith("Bearer")
    assert (await pages.page_before(room, before_seq=None, limit=5)).messages == []


async def test_revoking_is_only_for_the_owner(dana: object) -> None:
    other = await get_user_model().objects.acreate_user("erin", password="pw-not-checked-here")
    await make(dana, "chat")
    token = (await sync_to_async(tokens.tokens_of)(dana))[0]
    assert not await sync_to_async(tokens.revoke)(other, token.pk)
    assert await sync_to_async(tokens.revoke)(dana, token.pk)
    assert await sync_to_async(tokens.tokens_of)(dana) == []


@pytest.mark.parametrize("value", ["abc", "", "-1", "99999999"])
async def test_the_page_ignores_a_revoke_that_names_no_token_of_yours(
    dana: object, value: str
) -> None:
    raw = await make(dana, "chat")
    client = AsyncClient()
    await client.aforce_login(dana)
    answer = await client.post("/accounts/tokens/", {"revoke": value})
    assert (answer.status_code, answer["Location"]) == (302, "/accounts/tokens/")
    assert (await ApiToken.objects.aget(digest=tokens.digest(raw))).revoked_at is None
