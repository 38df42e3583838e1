"""The REST API (django-ninja), mounted at /api/: docs at /api/docs, schema at /api/openapi.json.

Thin like the consumer: validate with typed schemas, call one service or selector, answer.
Every error is JSON `{"code", "message", "field"}`; the codes are the WebSocket ones
(docs/protocol.md). As on the WebSocket, a signed-in user (session cookie) acts under their
username; a guest's `author` or `name` must not be a registered user's (`name_taken`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from ninja import Field, NinjaAPI, Path, Query, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import (
    ConfigDict,
    PlainSerializer,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.errors import RateLimited, ServiceError
from chat.identity import accounts
from chat.identity.owners import owner_of
from chat.jobs import kinds as job_kinds
from chat.jobs import records as job_records
from chat.jobs import selectors as job_selectors
from chat.jobs import service as job_service
from chat.limits import readlimits
from chat.messages import selectors, services
from chat.protocol import (
    HISTORY_MAX_PAGE,
    HISTORY_PAGE,
    MAX_NAME,
    MAX_QUERY,
    MAX_SEQ,
    MAX_TEXT,
    SEARCH_MAX_PAGE,
    SEARCH_PAGE,
    MessageOut,
    ProtocolError,
    Text,
    check_deliver_at,
    check_query,
    check_text,
    validate_name,
    validate_room,
)
from chat.scheduled.rules import ScheduledMessage

api = NinjaAPI(
    title="chatsite API",
    version="1",
    description="Rooms, their message history, posting messages, scheduled messages, and "
    "background jobs (exports, statistics). "
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
    "no_result": 409,
    "too_late": 409,
    "not_scheduled": 503,
    "not_stored": 503,
    "rate_limited": 429,
    "unavailable": 503,
}


class ErrorOut(Schema):
    """Every error answer."""

    code: str
    message: str
    field: str | None = None


def _error(
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
    return _error(request, 422, str(code), f"{field}: {message}" if field else message, field)


@api.exception_handler(ServiceError)
def _service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    field = "deliver_at" if "deliver_at" in exc.code else None
    response = _error(request, _STATUS.get(exc.code, 422), exc.code, exc.message, field)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(math.ceil(exc.retry_after_ms / 1000))
    return response


def _read_allowed(request: HttpRequest, read: readlimits.Read) -> None:
    """Count a history page or search against the caller's address; 429 past its limit."""
    wait_ms = readlimits.address_refused(read, request.META.get("REMOTE_ADDR") or "-")
    if wait_ms:
        raise RateLimited(readlimits.RATE_LIMITED_READS, retry_after_ms=wait_ms)


@api.exception_handler(RedisError)
def _redis_down(request: HttpRequest, exc: RedisError) -> HttpResponse:
    return _error(request, 503, "unavailable", "the service is unavailable right now; try again")


@api.exception_handler(PyMongoError)
def _mongo_down(request: HttpRequest, exc: PyMongoError) -> HttpResponse:
    return _error(
        request, 503, "unavailable", "the message store is unavailable right now; try again"
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = "invalid_json" if exc.status_code == 400 else "http_error"
    return _error(request, exc.status_code, code, exc.message)


def _checked(validate: Callable[[str], str], raw: str, *, where: str, field: str) -> str:
    """A path or query value validated like on the WebSocket; a 422 naming it otherwise."""
    try:
        return validate(raw)
    except ProtocolError as exc:
        error = {"loc": (where, field), "type": exc.code, "msg": exc.message}
        raise ValidationError([error]) from None


def _room(raw: str) -> str:
    return _checked(validate_room, raw, where="path", field="room")


def _author(raw: str) -> str:
    return _checked(validate_name, raw, where="query", field="author")


def _name_checked(raw: str) -> str:
    try:
        return validate_name(raw)
    except ProtocolError as exc:
        raise PydanticCustomError(exc.code, exc.message) from None


def _room_checked(raw: str) -> str:
    try:
        return validate_room(raw)
    except ProtocolError as exc:
        raise PydanticCustomError(exc.code, exc.message) from None


# ---- scheduled messages -----------------------------------------------------------------

scheduled = Router(tags=["scheduled messages"])


class ScheduleBody(Schema):
    """A message to post later."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(description="1-4000 characters, not only whitespace")
    deliver_at: Text | StrictInt = Field(
        description='ISO 8601 with offset, epoch milliseconds, or "now"; past times deliver '
        "at once; at most 365 days ahead",
        examples=["2026-11-23T18:30:00+01:00"],
    )
    author: StrictStr = Field(max_length=64, description=f"the name to post as (1-{MAX_NAME})")
    client_id: Text | None = Field(
        default=None, max_length=64, description="repeat it on a retry: nothing is scheduled twice"
    )

    _text = field_validator("text")(check_text)
    _deliver_at = field_validator("deliver_at", mode="before")(check_deliver_at)
    _author = field_validator("author")(_name_checked)


class ScheduledOut(Schema):
    """A scheduled message."""

    id: str
    room: str
    author: str
    text: str
    deliver_at: datetime
    client_id: str | None = None

    @classmethod
    def of(cls, item: ScheduledMessage) -> ScheduledOut:
        """The API view of a scheduled message."""
        return cls(
            id=item.id,
            room=item.room,
            author=item.author,
            text=item.text,
            deliver_at=item.deliver_at,
            client_id=item.client_id,
        )


class ScheduledListOut(Schema):
    """An author's pending scheduled messages in a room, earliest first."""

    items: list[ScheduledOut]


async def _identity(
    request: HttpRequest, name: str, *, where: str, field: str
) -> accounts.Identity:
    """Who the request acts as: the signed-in user, else the guest `name` (422 if not free)."""
    try:
        return await accounts.identity_for(user=await request.auser(), requested_name=name)
    except ProtocolError as exc:
        error = {"loc": (where, field), "type": exc.code, "msg": exc.message}
        raise ValidationError([error]) from None


@scheduled.post(
    "/rooms/{room}/scheduled",
    response={201: ScheduledOut, 400: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Schedule a message",
)
async def schedule_message(
    request: HttpRequest, room: str, body: ScheduleBody
) -> Status[ScheduledOut]:
    """Deliver `text` to the room at `deliver_at`, posted by `author`."""
    who = await _identity(request, body.author, where="body", field="author")
    item = await services.scheduled_message_create(
        room=_room(room),
        author=who.name,
        account=who.account,
        text=body.text,
        deliver_at=body.deliver_at,
        client_id=body.client_id,
    )
    return Status(201, ScheduledOut.of(item))


@scheduled.get(
    "/rooms/{room}/scheduled",
    response={200: ScheduledListOut, 422: ErrorOut, 503: ErrorOut},
    summary="List pending scheduled messages",
)
async def list_scheduled(request: HttpRequest, room: str, author: str) -> ScheduledListOut:
    """The author's messages in the room that are not delivered yet."""
    who = await _identity(request, _author(author), where="query", field="author")
    items = await selectors.scheduled_pending(room=_room(room), author=who.name)
    return ScheduledListOut(items=[ScheduledOut.of(item) for item in items])


@scheduled.delete(
    "/rooms/{room}/scheduled/{scheduled_id}",
    response={204: None, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Cancel a scheduled message",
)
async def cancel_scheduled(
    request: HttpRequest, room: str, scheduled_id: str, author: str
) -> Status[None]:
    """Cancel while pending; 409 `too_late` once it is being delivered or was delivered."""
    await services.scheduled_message_cancel(
        room=_room(room),
        author=(await _identity(request, _author(author), where="query", field="author")).name,
        scheduled_id=scheduled_id,
    )
    return Status(204, None)


# ---- rooms and messages -----------------------------------------------------------------

messages = Router(tags=["rooms and messages"])

_datetime = TypeAdapter(datetime)


def _wire_time(value: datetime) -> str:
    # Pydantic's JSON form, as in WebSocket events (Django's encoder would trim the digits).
    return _datetime.dump_python(value, mode="json")


WireTime = Annotated[
    datetime,
    PlainSerializer(_wire_time, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class MessageItem(MessageOut):
    """A stored message exactly as the WebSocket `message` event carries it."""

    ts: WireTime


_ROOM_PATH = Path(
    ...,
    example="lobby",
    description="1-64 of a-z, 0-9, '-', '_', starting with a letter or digit; case-insensitive",
)


class RoomOut(Schema):
    """An active room: it holds messages, or people are in it."""

    room: str
    messages: int = Field(description="how many messages the room holds")
    members: int = Field(description="how many names are present in it now (docs/protocol.md)")
    last_seq: int | None = Field(description="seq of its newest message; null before the first")
    last_ts: WireTime | None = Field(
        description="when its newest message was stored (UTC); null before the first"
    )


class HistoryOut(Schema):
    """A page of messages in ascending seq, as the WebSocket `history` event without `type`."""

    messages: list[MessageItem]
    has_more: bool = Field(
        description="more exist in the page's direction: newer for after_seq, older otherwise"
    )
    before_seq: int | None = None
    after_seq: int | None = None


class MessageBody(Schema):
    """A message to post now, as its author."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(
        description=f"1-{MAX_TEXT} characters, not only whitespace", examples=["hello"]
    )
    author: StrictStr = Field(
        max_length=64, description=f"the name to post as (1-{MAX_NAME})", examples=["alice"]
    )
    client_id: Text | None = Field(
        default=None,
        examples=["7b1e7c1e-5a4f-4c55-9d8e-0b3f5f7a9c21"],
        min_length=1,
        max_length=64,
        description="unique per message; a retry with it stores nothing new and returns the "
        "original id and seq",
    )

    _text = field_validator("text")(check_text)
    _author = field_validator("author")(_name_checked)


class PostedOut(Schema):
    """The confirmation of a stored message (the WebSocket `ack` without `type`)."""

    id: str
    seq: int
    client_id: str | None = None


@messages.get(
    "/rooms",
    response={200: list[RoomOut], 422: ErrorOut, 503: ErrorOut},
    summary="List rooms",
)
async def list_rooms(
    request: HttpRequest,
    order: Literal["recent", "busiest"] = Query(
        "recent", description="recent: latest activity first; busiest: most messages first"
    ),
    limit: int = Query(100, ge=1, le=1000, description="at most this many rooms"),
) -> list[RoomOut]:
    """Rooms that hold messages or have people in them: figures and who is present now."""
    rooms = await selectors.room_list(order=order, limit=limit)
    return [
        RoomOut(
            room=r.room,
            messages=r.stats.messages if r.stats else 0,
            members=r.members,
            last_seq=r.stats.last_seq if r.stats else None,
            last_ts=r.stats.last_ts if r.stats else None,
        )
        for r in rooms
    ]


@messages.get(
    "/rooms/{room}/messages",
    response={200: HistoryOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Read a page of history",
)
async def list_messages(
    request: HttpRequest,
    room: str = _ROOM_PATH,
    before_seq: int | None = Query(
        None, gt=0, le=MAX_SEQ, description="the newest `limit` messages with seq < before_seq"
    ),
    after_seq: int | None = Query(
        None, ge=0, le=MAX_SEQ, description="the oldest `limit` messages with seq > after_seq"
    ),
    limit: int = Query(HISTORY_PAGE, ge=1, le=HISTORY_MAX_PAGE),
) -> HistoryOut:
    """Like the WebSocket `history`: no cursor is the newest page; not both cursors."""
    name = _room(room)
    _read_allowed(request, "history")
    if before_seq is not None and after_seq is not None:
        error = {
            "loc": ("query", "after_seq"),
            "type": "invalid_field",
            "msg": "give before_seq or after_seq, not both",
        }
        raise ValidationError([error])
    if after_seq is not None:
        page = await selectors.history_after(room=name, after_seq=after_seq, limit=limit)
    else:
        page = await selectors.history_page(room=name, before_seq=before_seq, limit=limit)
    return HistoryOut(
        messages=[MessageItem.model_validate(m.model_dump()) for m in page.messages],
        has_more=page.has_more,
        before_seq=page.before_seq,
        after_seq=page.after_seq,
    )


@messages.post(
    "/rooms/{room}/messages",
    response={201: PostedOut, 400: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Post a message",
)
async def post_message(
    request: HttpRequest, body: MessageBody, room: str = _ROOM_PATH
) -> Status[PostedOut]:
    """Store and fan out like a WebSocket `message`; 201 with its id and seq, also on a retry."""
    who = await _identity(request, body.author, where="body", field="author")
    message = await services.message_create(
        room=_room(room),
        author=who.name,
        account=who.account,
        text=body.text,
        client_id=body.client_id,
    )
    return Status(201, PostedOut(id=message.id, seq=message.seq, client_id=body.client_id))


class SearchOut(Schema):
    """Matching messages newest first, as the WebSocket `search` event without `type`."""

    q: str = Field(description="the query as searched (outer whitespace trimmed)")
    messages: list[MessageItem]
    has_more: bool = Field(description="older matches exist: ask again with before_seq")
    before_seq: int | None = None


def _query(raw: str) -> str:
    try:
        return check_query(raw)
    except PydanticCustomError as exc:
        error = {"loc": ("query", "q"), "type": exc.type, "msg": exc.message()}
        raise ValidationError([error]) from None


@messages.get(
    "/rooms/{room}/search",
    response={200: SearchOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Search a room's messages",
)
async def search_messages(
    request: HttpRequest,
    room: str = _ROOM_PATH,
    q: str = Query("", description=f"1-{MAX_QUERY} characters, any case"),
    before_seq: int | None = Query(
        None, gt=0, le=MAX_SEQ, description="the next page: seq of the oldest match so far"
    ),
    limit: int = Query(SEARCH_PAGE, ge=1, le=SEARCH_MAX_PAGE),
) -> SearchOut:
    """Messages containing `q` as a substring in any case (no pattern syntax), newest first."""
    _read_allowed(request, "search")
    found = await selectors.search(
        room=_room(room), q=_query(q), before_seq=before_seq, limit=limit
    )
    return SearchOut(
        q=found.q,
        messages=[MessageItem.model_validate(m.model_dump()) for m in found.messages],
        has_more=found.has_more,
        before_seq=found.before_seq,
    )


# ---- background jobs --------------------------------------------------------------------

jobs = Router(tags=["jobs"])


class JobBody(Schema):
    """A job to run in the background."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[job_kinds.API_KINDS] = Field(
        description="export: the room's whole transcript; stats: per-author counts and the "
        "busiest hours"
    )
    room: StrictStr = Field(max_length=64, description="the room", examples=["lobby"])
    format: Literal["json", "csv"] | None = Field(
        default=None, description="export only: json (default) or csv; stats results are JSON"
    )
    name: StrictStr = Field(
        max_length=64,
        description="the guest chat name asking: the job's owner, told on its sockets when "
        "it ends (a signed-in user owns the job under their username whatever this says)",
        examples=["alice"],
    )

    _room = field_validator("room")(_room_checked)
    _name = field_validator("name")(_name_checked)

    @field_validator("format")
    @classmethod
    def _format_fits_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "csv" and info.data.get("kind") == "stats":
            raise PydanticCustomError("invalid_field", "stats results are JSON only")
        return value


class ProgressOut(Schema):
    """How far a running job has got, in the kind's units (messages for export and stats)."""

    done: int
    total: int


class JobOut(Schema):
    """A job and where it stands."""

    id: str
    kind: str
    params: dict[str, str]
    owner: str
    status: Literal["pending", "running", "completed", "failed"]
    attempts: int = Field(description="runs started so far, this one included")
    created_at: WireTime
    updated_at: WireTime
    started_at: WireTime | None = None
    finished_at: WireTime | None = None
    error: str | None = Field(default=None, description="the last failure, if any")
    progress: ProgressOut | None = None
    result_url: str | None = Field(default=None, description="set once completed")
    result_type: str | None = None
    result_bytes: int | None = None

    @classmethod
    def of(cls, job: job_records.Job) -> JobOut:
        """The API view of a job record."""
        done = job.status == job_records.COMPLETED and job.result is not None
        return cls(
            id=job.id,
            kind=job.kind,
            params=job.params,
            owner=job.owner,
            status=job.status,
            attempts=job.attempts,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=job.error,
            progress=ProgressOut(done=job.progress_done, total=job.progress_total)
            if job.progress_total is not None and job.progress_done is not None
            else None,
            result_url=job_service.result_url(job.id) if done else None,
            result_type=job.result.content_type if done and job.result else None,
            result_bytes=job.result.size if done and job.result else None,
        )


class JobListOut(Schema):
    """An owner's jobs, newest first."""

    items: list[JobOut]


_JOB_ID_PATH = Path(
    ..., pattern=r"^[0-9a-f]{32}$", description="the id POST /api/jobs answered with (32 hex)"
)


async def _owner(request: HttpRequest, name: str, *, where: str) -> str:
    """The job owner the request acts for; a 422 naming `name` if a guest may not use it."""
    return owner_of(await _identity(request, name, where=where, field="name"))


async def _job(job_id: str) -> job_records.Job:
    job = await job_selectors.job_get(job_id=job_id)
    if job is None:
        raise ServiceError("not_found", f"no job {job_id}")
    return job


@jobs.post(
    "/jobs",
    response={202: JobOut, 400: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Start a job",
)
async def create_job(request: HttpRequest, body: JobBody) -> Status[JobOut]:
    """Queue the job and answer at once with its id; the owner's sockets hear when it ends."""
    job = await job_service.job_create(
        kind=body.kind,
        params=job_service.job_params(kind=body.kind, room=body.room, fmt=body.format),
        owner=await _owner(request, body.name, where="body"),
    )
    return Status(202, JobOut.of(job))


@jobs.get(
    "/jobs",
    response={200: JobListOut, 422: ErrorOut, 503: ErrorOut},
    summary="List jobs",
)
async def list_jobs(
    request: HttpRequest,
    name: str = Query(..., description="the owner's guest name (signed in: your own jobs)"),
    limit: int = Query(50, ge=1, le=200),
) -> JobListOut:
    """The owner's jobs, newest first."""
    owner = await _owner(request, name, where="query")
    return JobListOut(
        items=[JobOut.of(job) for job in await job_selectors.job_list(owner=owner, limit=limit)]
    )


@jobs.get(
    "/jobs/{job_id}",
    response={200: JobOut, 404: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Read a job",
)
async def get_job(request: HttpRequest, job_id: str = _JOB_ID_PATH) -> JobOut:
    """The job's status, attempts, progress, error and, once completed, its result URL."""
    return JobOut.of(await _job(job_id))


@jobs.get(
    "/jobs/{job_id}/result",
    response={404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Download a job's result",
    openapi_extra={
        "responses": {
            "200": {
                "description": "the output, streamed: JSON, or CSV for a CSV export",
                "content": {
                    "application/json": {"schema": {}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
async def job_result(request: HttpRequest, job_id: str = _JOB_ID_PATH) -> HttpResponse:
    """Stream the completed job's output; 409 while it runs (`not_ready`) or if it failed."""
    job = await _job(job_id)
    if job.status == job_records.FAILED:
        raise ServiceError("no_result", f"the job failed: {job.error}")
    if job.status != job_records.COMPLETED or job.result is None:
        raise ServiceError("not_ready", f"the job is {job.status}; wait for it to complete")
    response = StreamingHttpResponse(
        job_selectors.job_result(job), content_type=job.result.content_type
    )
    response["Content-Length"] = str(job.result.size)
    response["Content-Disposition"] = content_disposition_header(True, job.result.filename)
    return response


api.add_router("/", messages)
api.add_router("/", scheduled)
api.add_router("/", jobs)
