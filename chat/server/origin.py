"""Refuse WebSockets opened by pages of other sites (cross-site WebSocket hijacking), or
sent to a host name the site does not answer to (DNS rebinding), as Django refuses HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host


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


def host_allowed(host: str | None, allowed_hosts: list[str], *, debug: bool = False) -> bool:
    """True when the Host header names one of ALLOWED_HOSTS, as Django's get_host decides.

    Without this a page on a rebound name (its Origin matching its own Host) could open
    sockets here, although Django refuses its HTTP requests.
    """
    if not host:
        return False
    if debug and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed_hosts)


def scope_allowed(scope: dict[str, Any]) -> bool:
    """A WebSocket handshake's Host against ALLOWED_HOSTS and its Origin against the Host
    and CSRF_TRUSTED_ORIGINS."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    host = headers.get("host")
    return host_allowed(host, settings.ALLOWED_HOSTS, debug=settings.DEBUG) and origin_allowed(
        headers.get("origin"), host, settings.CSRF_TRUSTED_ORIGINS
    )
