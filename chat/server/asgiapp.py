"""The ASGI application: HTTP to Django; a WebSocket checked, signed in and routed in one frame.

Channels' stack for this (ProtocolTypeRouter, an origin guard, Cookie-, Session- and
AuthMiddleware, URLRouter, `as_asgi`) keeps seven coroutine frames for the life of every
socket, six copies of the scope, the handshake's headers and the session objects: about
6 KB per idle WebSocket (docs/performance.md, change 8). Here the handshake is decided
first (origin, route, the session's user) and the consumer then runs alone, with a scope of
what it reads: no headers, cookies or session.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from django.urls import URLPattern
from django.utils.module_loading import import_string

from chat.identity import guests, tokens
from chat.server import eventstream, polls
from chat.server.origin import scope_allowed

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

# A long-poll: a plain one is answered on the loop (chat.server.polls), not through Django.
_POLL = re.compile(r"^/api/rooms/(?P<room>[^/]+)/events$")
# What a consumer keeps of daphne's scope (the rest is the handshake's).
_CONSUMER_SCOPE_KEYS = ("type", "asgi", "path", "query_string", "client", "server", "subprotocols")


class ChatApplication:
    """Route by scope type: `http` to Django, `websocket` to the URL patterns' consumers."""

    def __init__(
        self,
        http: ASGIApp,
        websocket_routes: Sequence[URLPattern],
        stream_routes: Sequence[URLPattern] = (),
    ) -> None:
        self.http = http
        self.websocket_routes = websocket_routes
        # GET requests served by a consumer as Server-Sent Events (chat.server.eventstream).
        self.stream_routes = stream_routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope["method"] == "GET":
                if self.route(self.stream_routes, scope["path"]):
                    return await self.stream(scope, receive, send)
                poll = _POLL.match(scope["path"])
                if poll and polls.plain_poll(scope):
                    return await polls.serve(scope, receive, send, poll["room"])
            return await self.http(scope, receive, send)
        if scope["type"] != "websocket":
            raise ValueError(f"No application configured for scope type {scope['type']!r}")
        connection = await self.websocket(scope, receive, send)
        # This frame lasts as long as the socket: it must not keep the handshake's scope.
        del scope
        return await connection

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        """The coroutine that serves this WebSocket: its consumer, or a refusal (403)."""
        made = await self.consumer(self.websocket_routes, scope)
        if made is None:
            return refuse(receive, send)
        consumer, kept = made
        return consumer(kept, receive, send)

    async def stream(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """An event stream: the WebSocket's consumer and checks, over one HTTP response."""
        headers = dict(scope.get("headers", ()))
        last_event_id = headers.get(b"last-event-id", b"").decode("latin-1")
        scope = {
            **scope,
            "type": "websocket",
            "query_string": eventstream.resume_query(scope.get("query_string", b""), last_event_id),
        }
        made = await self.consumer(self.stream_routes, scope)
        if made is None:
            await eventstream.refuse(send)
            return
        consumer, kept = made
        del scope
        await eventstream.EventStream(receive, send).serve(consumer, kept)

    async def consumer(
        self, routes: Sequence[URLPattern], scope: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]] | None:
        """The consumer for this handshake and the scope it runs with; None to refuse it."""
        if not scope_allowed(scope):
            return None
        route = self.route(routes, scope["path"])
        if route is None:
            log.info("no WebSocket route for %r", scope["path"])
            return None
        make_consumer, kwargs = route
        user = await token_user(scope)
        if user is False:
            return None
        cookies = _cookies(scope)
        if user is None:
            user = await session_user(cookies)
        guest_key = guests.key_from(cookies.get(guests.COOKIE))
        return make_consumer(), consumer_scope(scope, kwargs, user, guest_key)

    @staticmethod
    def route(
        routes: Sequence[URLPattern], path: str
    ) -> tuple[Callable[[], Any], dict[str, Any]] | None:
        """A new consumer's maker and the URL's keyword arguments, as URLRouter matches them.

        The patterns' callbacks are `Consumer.as_asgi()`; their consumers are made here, so
        that the coroutine of `as_asgi` does not stay between this frame and the consumer.
        """
        for pattern in routes:
            match = pattern.pattern.match(path.lstrip("/"))
            if match:
                _rest, _args, kwargs = match
                app = pattern.callback
                make = partial(app.consumer_class, **app.consumer_initkwargs)
                return make, {**kwargs, **pattern.default_args}
        return None


async def refuse(receive: Any, send: Any) -> None:
    """Deny the handshake (HTTP 403), as Channels' WebsocketDenier does, without a channel.

    The denier is a consumer: it would take a channel of the layer (a Redis subscription)
    just to say no, and fail to say it while Redis is down.
    """
    await receive()  # websocket.connect
    await send({"type": "websocket.close"})


def consumer_scope(
    scope: dict[str, Any], kwargs: dict[str, Any], user: Any, guest_key: str | None = None
) -> dict[str, Any]:
    """The scope a consumer runs with: daphne's without the handshake, plus route, user and
    a guest's browser key."""
    kept = {key: scope[key] for key in _CONSUMER_SCOPE_KEYS if key in scope}
    return {
        **kept,
        "url_route": {"args": (), "kwargs": kwargs},
        "user": user,
        "guest_key": guest_key,
    }


async def token_user(scope: dict[str, Any]) -> Any:
    """The user of the handshake's `Authorization: Bearer` token (a non-browser client),
    None without one, False for a bad or revoked token or one without the `chat` scope."""
    header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), None)
    if header is None:
        return None
    try:
        bearer = await database_sync_to_async(tokens.from_header)(
            header.decode("latin-1"), scope="chat"
        )
    except tokens.TokenError as exc:
        log.info("WebSocket token refused: %s", exc.message)
        return False
    return bearer.user


async def session_user(cookies: dict[str, str]) -> Any:
    """The user signed in by the session cookie, as Channels' AuthMiddleware finds it.

    Channels' get_user checks the session's backend and its password hash (a session from
    before a password change is flushed); no cookie is a guest without a database query.
    """
    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return AnonymousUser()
    session = import_string(settings.SESSION_ENGINE + ".SessionStore")(session_key)
    return await get_user({"session": session})


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin-1"))
    return {}
