"""Request and connection ids on every log line written while serving that request or socket."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

# daphne runs each request and each WebSocket in a task of its own, so a value set while
# serving one never shows up in another's lines.
current_id: ContextVar[str] = ContextVar("log_id", default="-")
_CLEAN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_id() -> str:
    """A short random id for a request or connection."""
    return uuid.uuid4().hex[:12]


class ContextFilter(logging.Filter):
    """Adds `log_id` (the request or connection id, `-` outside of one) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.log_id = current_id.get()
        return True


class RequestIdMiddleware:
    """Tag an HTTP request's log lines with its id (a sane incoming X-Request-ID, or a new one).

    The id goes back in the X-Request-ID response header, so a user's report can be found.
    """

    async_capable = True
    sync_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @staticmethod
    def _request_id(request: HttpRequest) -> str:
        incoming = request.headers.get("X-Request-ID", "")
        return incoming if _CLEAN_ID.fullmatch(incoming) else new_id()

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        request_id = self._request_id(request)
        # Reset afterwards: a sync server's thread serves the next request in this context.
        token = current_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_id.reset(token)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = self._request_id(request)
        token = current_id.set(request_id)
        try:
            response = await self.get_response(request)
        finally:
            current_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
