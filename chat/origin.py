"""Refuse WebSockets opened by pages of other sites (cross-site WebSocket hijacking)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


def origin_allowed(origin: str | None, host: str | None, trusted: list[str]) -> bool:
    """True when the Origin is absent (not a browser), the page's own host, or trusted."""
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if host and parts.netloc.lower() == host.lower():
        return True
    return f"{parts.scheme}://{parts.netloc}".lower() in {t.lower().rstrip("/") for t in trusted}


class OriginGuard:
    """ASGI middleware: deny the handshake when `origin_allowed` says no."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        # Decided in a function: this frame lives as long as the connection, and a headers
        # dict kept in it would cost every idle socket half a kilobyte.
        if _scope_allowed(scope):
            return await self.app(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def _scope_allowed(scope: dict[str, Any]) -> bool:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    return origin_allowed(headers.get("origin"), headers.get("host"), settings.CSRF_TRUSTED_ORIGINS)
