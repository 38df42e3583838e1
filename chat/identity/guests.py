"""A guest's identity: a random key in a signed, HttpOnly cookie of their browser.

A guest's name is only a label anyone may type; what a guest schedules, and the jobs they
start, belong to this key instead (chat.identity.owners), so knowing someone's name is not
enough to list or cancel their messages. A client without the cookie (a script without a
token) owns by name alone, as before.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

COOKIE = "chat_guest"
_SALT = "chat.identity.guests"
_MAX_AGE_S = 365 * 24 * 3600


def key_from(cookie: str | None) -> str | None:
    """The guest key a cookie value carries, None when absent or not signed by us."""
    if not cookie:
        return None
    try:
        return signing.Signer(salt=_SALT).unsign(cookie)
    except signing.BadSignature:
        return None


def key_of(request: HttpRequest) -> str | None:
    return key_from(request.COOKIES.get(COOKIE))


def ensure_cookie(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Give a browser that has no valid guest key one (a page view does this)."""
    if key_of(request) is None:
        value = signing.Signer(salt=_SALT).sign(secrets.token_urlsafe(18))
        response.set_cookie(
            COOKIE,
            value,
            max_age=_MAX_AGE_S,
            httponly=True,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    return response
