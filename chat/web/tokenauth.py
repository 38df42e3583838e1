"""Bearer tokens on the REST API: `Authorization: Bearer <token>` acts for the token's user
within its scopes. A bad or revoked token is 401 and a missing scope 403, as JSON; never a
guest fallback. The scope a request needs follows from its path (one rule for every route).
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from chat.identity import tokens
from chat.web.middleware import Guard

# Open to everyone, token or not: the API's own description.
_DESCRIPTION = ("/api/docs", "/api/openapi.json")


def scope_for(path: str) -> str:
    """The scope an API path needs from a token."""
    rest = path.removeprefix("/api/")
    if rest.startswith("jobs"):
        return "jobs"
    if rest.startswith("queues"):
        return "queues"
    if rest.startswith("rooms/") and "/scheduled" in rest:
        return "scheduled"
    return "chat"


def bearer_of(request: HttpRequest) -> tokens.Bearer | None:
    """The request's token holder (set by ApiTokenMiddleware), None without a token."""
    return getattr(request, "bearer", None)


def _resolve(request: HttpRequest) -> HttpResponse | None:
    header = request.headers.get("Authorization")
    if header is None or not request.path.startswith("/api/"):
        return None
    if request.path.startswith(_DESCRIPTION):
        return None
    try:
        bearer = tokens.from_header(header, scope=scope_for(request.path))
    except tokens.TokenError as exc:
        body = {"code": exc.code, "message": exc.message, "field": None}
        response = HttpResponse(
            json.dumps(body), status=exc.status, content_type="application/json"
        )
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="chatsite"'
        return response
    request.bearer = bearer  # type: ignore[attr-defined]
    return None


class ApiTokenMiddleware(Guard):
    """Resolves an API request's bearer token before any view runs (only when one is sent)."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return _resolve(request)

    async def abefore(self, request: HttpRequest) -> HttpResponse | None:
        if "Authorization" not in request.headers:
            return None
        return await sync_to_async(_resolve)(request)
