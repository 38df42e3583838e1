"""Refuse cross-site writes to the REST API that ride on a browser's session cookie.

The API's views are exempt from Django's CSRF middleware (it serves scripts and bots too),
so a page of another site could post with a signed-in user's cookie (a `text/plain` body
needs no preflight). An unsafe request that carries the session cookie must come from a
same-origin page (its `Origin`) or carry Django's CSRF token; one with a bearer token, or
without the cookie, has no ambient credential to abuse and passes.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from chat.server.origin import origin_allowed
from chat.web.middleware import Guard
from chat.web.tokenauth import bearer_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
REFUSED = {
    "code": "cross_site",
    "message": "a write with the session cookie needs a same-origin page or the CSRF token",
    "field": None,
}


def _accept(request: HttpRequest) -> None:
    return None


_csrf = CsrfViewMiddleware(_accept)


def cross_site(request: HttpRequest) -> bool:
    """Whether this request is an API write made with the session cookie from elsewhere."""
    if request.method in SAFE_METHODS or not request.path.startswith("/api/"):
        return False
    if bearer_of(request) is not None:  # a valid token (chat.web.tokenauth ran before)
        return False
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        return not origin_allowed(origin, request.get_host(), settings.CSRF_TRUSTED_ORIGINS)
    return _csrf.process_view(request, None, (), {}) is not None


def _refusal() -> HttpResponse:
    return HttpResponse(json.dumps(REFUSED), status=403, content_type="application/json")


class CrossSiteApiMiddleware(Guard):
    """Answers a cross-site API write 403 `cross_site` before any view runs."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return _refusal() if cross_site(request) else None
