"""The shape the project's middleware shares: answer a request before its view (or let it
through), then touch the response; on the async path without a thread hop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse


class Guard:
    """Subclasses override `before` (a response answers the request instead of its view),
    `abefore` when that needs the database, and `after`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return None

    async def abefore(self, request: HttpRequest) -> HttpResponse | None:
        return self.before(request)

    def after(self, response: HttpResponse) -> HttpResponse:
        return response

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self.after(self.before(request) or self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self.after(await self.abefore(request) or await self.get_response(request))
