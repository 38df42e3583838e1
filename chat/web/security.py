"""Security headers on every response (pages, the admin, the API and its docs, errors).

Beside Django's own (SecurityMiddleware: `X-Content-Type-Options: nosniff`,
`Referrer-Policy: same-origin`, `Cross-Origin-Opener-Policy: same-origin`;
XFrameOptionsMiddleware: `X-Frame-Options: DENY`): a Content-Security-Policy without inline
script. docs/operations.md#security-headers lists them all.
"""

from __future__ import annotations

from django.http import HttpResponse

from chat.web.middleware import Guard

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


class SecurityHeadersMiddleware(Guard):
    """Adds the Content-Security-Policy to every response that has none of its own."""

    def after(self, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
