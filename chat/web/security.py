"""Security headers for the chat pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from inspect import iscoroutinefunction
from typing import Any

from django.http import HttpRequest, HttpResponse

# Scripts and styles only from our own static files: no inline script can run, so text that
# slipped into the DOM as HTML could still not execute. 'self' covers same-origin ws/wss.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _secure(response: HttpResponse) -> HttpResponse:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def content_security_policy(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send the page's Content-Security-Policy with the view's response (sync or async view)."""
    if iscoroutinefunction(view):

        @wraps(view)
        async def wrapped_async(request: HttpRequest, *args: object, **kwargs: object) -> Any:
            return _secure(await view(request, *args, **kwargs))

        return wrapped_async

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        return _secure(view(request, *args, **kwargs))

    return wrapped
