"""WhiteNoise on Django's async path: its middleware is sync-only, which puts every request
behind it (a held long-poll too) on a thread of its own for as long as it runs.

`AsyncWhiteNoiseMiddleware` answers static files exactly as WhiteNoise does (its `files`,
`find_file` and `serve`) and awaits everything else, so the chain stays on the event loop.
tests/unit/test_library_contracts.py fails when WhiteNoise's `__call__` changes.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        # As WhiteNoiseMiddleware.__call__; a file is served from its cached headers, and
        # only its body is read (by Django, off the loop).
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)  # type: ignore[no-any-return]
        return await self.get_response(request)  # type: ignore[no-any-return]
