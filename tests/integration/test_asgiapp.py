"""The ASGI application's WebSockets: origin, route and the session's user, then the consumer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.identity import tokens
from chatsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-not-checked-here"
OWN_SITE = [(b"host", b"chat.example"), (b"origin", b"https://chat.example")]


@pytest.fixture(autouse=True)
def _site_answers_to_chat_example(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["chat.example", "localhost"]


async def session_cookie(username: str) -> tuple[Any, list[tuple[bytes, bytes]]]:
    """A user signed in through Django's session machinery; their cookie header."""
    user = await get_user_model().objects.acreate_user(username, password=PASSWORD)
    client = AsyncClient()
    await client.aforce_login(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return user, [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())]


async def open_socket(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, Any]:
    """Connect; return whether the handshake was accepted and the welcome (or None)."""
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    welcome = await communicator.receive_json_from(timeout=5) if connected else None
    await communicator.disconnect()
    return connected, welcome


async def test_the_session_user_chats_under_their_username(room: str) -> None:
    _user, cookie = await session_cookie("carol")
    connected, welcome = await open_socket(f"/ws/rooms/{room}/?name=impostor", OWN_SITE + cookie)
    assert connected
    assert (welcome["type"], welcome["name"], welcome["account"]) == ("welcome", "carol", "carol")


async def test_a_session_from_before_a_password_change_is_a_guest(room: str) -> None:
    """As Django's own middleware: the session's password hash no longer matches."""
    user, cookie = await session_cookie("dave")
    user.set_password("changed")
    await user.asave()
    connected, welcome = await open_socket(f"/ws/rooms/{room}/?name=visitor", OWN_SITE + cookie)
    assert connected
    assert (welcome["name"], welcome["account"]) == ("visitor", None)


async def test_an_unknown_session_key_is_a_guest(room: str) -> None:
    cookie = [(b"cookie", f"{settings.SESSION_COOKIE_NAME}=forged-key".encode())]
    connected, welcome = await open_socket(f"/ws/rooms/{room}/?name=visitor", OWN_SITE + cookie)
    assert connected
    assert (welcome["name"], welcome["account"]) == ("visitor", None)


async def test_a_bearer_token_chats_as_its_user_and_a_bad_one_is_refused(room: str) -> None:
    """Non-browser clients may send the REST API's `Authorization: Bearer` header."""
    user = await get_user_model().objects.acreate_user("frank", password=PASSWORD)
    _, chat_token = await sync_to_async(tokens.create_token)(user, name="bot", scopes=["chat"])
    _, jobs_only = await sync_to_async(tokens.create_token)(user, name="j", scopes=["jobs"])
    host = [(b"host", b"chat.example")]
    path = f"/ws/rooms/{room}/?name=whoever"
    connected, welcome = await open_socket(path, [*host, bearer(chat_token)])
    assert connected and (welcome["name"], welcome["account"]) == ("frank", "frank")
    for refused in (bearer(jobs_only), bearer("cs_unknown"), (b"authorization", b"Basic x")):
        assert (await open_socket(path, [*host, refused]))[0] is False


def bearer(raw: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {raw}".encode())


async def test_a_foreign_origin_is_refused_even_with_a_valid_session(room: str) -> None:
    _user, cookie = await session_cookie("erin")
    foreign = [(b"host", b"chat.example"), (b"origin", b"https://evil.example")]
    connected, _ = await open_socket(f"/ws/rooms/{room}/?name=erin", foreign + cookie)
    assert not connected


async def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_page(room: str) -> None:
    """DNS rebinding: the page's Origin matches its Host, but the site does not answer to it."""
    rebound = [(b"host", b"rebound.example"), (b"origin", b"https://rebound.example")]
    connected, _ = await open_socket(f"/ws/rooms/{room}/?name=erin", rebound)
    assert not connected
    connected, _ = await open_socket(f"/ws/rooms/{room}/?name=erin", OWN_SITE)
    assert connected


async def test_a_path_without_a_route_is_refused() -> None:
    connected, _ = await open_socket("/ws/nowhere/", OWN_SITE)
    assert not connected


async def test_http_goes_to_django() -> None:
    communicator = HttpCommunicator(
        application, "GET", "/healthz", headers=[(b"host", b"localhost")]
    )
    response = await communicator.get_response(timeout=5)
    assert response["status"] == 200


async def test_a_scope_type_without_an_application_is_an_error() -> None:
    with pytest.raises(ValueError, match="lifespan"):
        await application({"type": "lifespan"}, None, None)
