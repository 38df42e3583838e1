"""Accounts over real sockets: a registered name is refused to guests, users chat as themselves."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

import pytest
import websockets

from tests.chatserver import ChatServer, Client, run_chat_server
from tests.conftest import require_services

PASSWORD = "correct horse battery staple"


def log_in(server: ChatServer, username: str) -> str:
    """Log in through the real form (CSRF and all); return the session cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{server.http_url}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token, "the log-in form has no CSRF token"
    body = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token[1], "username": username, "password": PASSWORD}
    ).encode()
    opener.open(f"{server.http_url}/accounts/login/", body, timeout=10).read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, "logging in set no session"
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def test_a_guest_cannot_take_a_registered_name(room: str) -> None:
    """In any letter case: an error event `name_taken`, then close 4400; other names join."""
    require_services()
    refusals = []
    with run_chat_server(workers=1) as server:
        server.create_user("alice", PASSWORD)
        for name in ("alice", "ALICE", " Alice "):
            async with websockets.connect(server.ws_url(room, name)) as ws:
                error = json.loads(await asyncio.wait_for(ws.recv(), 10))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            refusals.append((error["type"], error["code"], closed.value.rcvd.code))
            assert "registered" in error["message"]
        guest = await Client.join(server, room, "alicia")
        await guest.close()
    assert refusals == [("error", "name_taken", 4400)] * 3
    assert (guest.welcome["name"], guest.welcome["account"]) == ("alicia", None)


async def test_a_signed_in_user_chats_under_their_account(room: str) -> None:
    """The session picks the name (whatever ?name= says); messages carry the account."""
    require_services()
    with run_chat_server(workers=2) as server:
        server.create_user("bob", PASSWORD)
        cookie = await asyncio.to_thread(log_in, server, "bob")
        user = await Client.join(server, room, "impostor", additional_headers={"Cookie": cookie})
        guest = await Client.join(server, room, "gina")
        try:
            await user.send({"type": "message", "text": "hello as bob", "client_id": "u1"})
            await guest.send({"type": "message", "text": "hello as guest", "client_id": "g1"})
            await user.send({"type": "schedule", "text": "later as bob", "deliver_at": "now"})
            live = await guest.messages(3)
            newcomer = await Client.join(server, room, "nina")
            stored = newcomer.history["messages"]
            await newcomer.close()
        finally:
            await user.close()
            await guest.close()
    assert (user.welcome["name"], user.welcome["account"]) == ("bob", "bob")
    by_text = {m["text"]: m for m in live}
    assert (by_text["hello as bob"]["author"], by_text["hello as bob"]["account"]) == (
        "bob",
        "bob",
    )
    assert by_text["hello as guest"]["account"] is None
    assert (by_text["later as bob"]["author"], by_text["later as bob"]["account"]) == ("bob", "bob")
    assert sorted((m["author"], m["account"] or "") for m in stored) == [
        ("bob", "bob"),
        ("bob", "bob"),
        ("gina", ""),
    ]
