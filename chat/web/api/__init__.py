"""The REST API (django-ninja), mounted at /api/: docs at /api/docs, schema at /api/openapi.json.

Thin like the consumer: validate with typed schemas, call one service or selector, answer.
Every error is JSON `{"code", "message", "field"}`; the codes are the WebSocket ones
(docs/protocol.md). As on the WebSocket, a signed-in user (session cookie) acts under their
username; a guest's `author` or `name` must not be a registered user's (`name_taken`).
"""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.errors import RateLimited, ServiceError
from chat.web.api.common import ErrorOut

api = NinjaAPI(
    title="chatsite API",
    version="1",
    description="Rooms, their message history, posting messages, scheduled messages, and "
    "background jobs (exports, statistics), and queues for integrators. "
    'Errors: `{"code", "message", "field"}` with the codes of docs/protocol.md; see docs/api.md.',
    urls_namespace="api",
)

# Codes from validation that a client sees as they are; anything else is invalid_field.
_FIELD_CODES = {
    "empty_text",
    "text_too_long",
    "invalid_deliver_at",
    "deliver_at_too_far",
    "invalid_name",
    "invalid_room",
    "empty_query",
    "query_too_long",
    "name_taken",
}
_STATUS = {
    "not_found": 404,
    "not_ready": 409,
    "stale_receipt": 409,
    "not_signed_in": 401,
    "body_too_large": 413,
    "no_result": 409,
    "too_late": 409,
    "not_scheduled": 503,
    "not_stored": 503,
    "rate_limited": 429,
    "too_many_connections": 429,
    "connecting_too_fast": 429,
    "server_full": 503,
    "unavailable": 503,
}


def error_response(
    request: HttpRequest, status: int, code: str, message: str, field: str | None = None
) -> HttpResponse:
    return api.create_response(
        request, ErrorOut(code=code, message=message, field=field).model_dump(), status=status
    )


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first: dict[str, Any] = exc.errors[0]
    # loc is (where, [schema name,] field...): name the field, not the plumbing.
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = loc[-1] if loc else None
    code = first.get("type") if first.get("type") in _FIELD_CODES else "invalid_field"
    if first.get("type") == "missing" and field == "text":
        code = "empty_text"  # as on the WebSocket: a missing text is an empty one
    message = str(first.get("msg", "invalid"))
    return error_response(
        request, 422, str(code), f"{field}: {message}" if field else message, field
    )


@api.exception_handler(ServiceError)
def _service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    field = "deliver_at" if "deliver_at" in exc.code else None
    response = error_response(request, _STATUS.get(exc.code, 422), exc.code, exc.message, field)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(math.ceil(exc.retry_after_ms / 1000))
    return response


@api.exception_handler(RedisError)
def _redis_down(request: HttpRequest, exc: RedisError) -> HttpResponse:
    return error_response(
        request, 503, "unavailable", "the service is unavailable right now; try again"
    )


@api.exception_handler(PyMongoError)
def _mongo_down(request: HttpRequest, exc: PyMongoError) -> HttpResponse:
    return error_response(
        request, 503, "unavailable", "the message store is unavailable right now; try again"
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = "invalid_json" if exc.status_code == 400 else "http_error"
    return error_response(request, exc.status_code, code, exc.message)


from chat.web.api import jobs, messages, queues, scheduled, transports  # noqa: E402  (they use its errors)

api.add_router("/", messages.router)
api.add_router("/", scheduled.router)
api.add_router("/", jobs.router)
api.add_router("/", transports.router)
api.add_router("/", queues.router)
