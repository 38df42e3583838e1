"""Refuse WebSockets opened by pages of other sites (cross-site WebSocket hijacking)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

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


def scope_allowed(scope: dict[str, Any]) -> bool:
    """`origin_allowed` for a WebSocket handshake's scope, against CSRF_TRUSTED_ORIGINS."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    return origin_allowed(headers.get("origin"), headers.get("host"), settings.CSRF_TRUSTED_ORIGINS)
