"""Background jobs: start one, see where it stands, list an owner's, download results."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.errors import ValidationError
from pydantic import ConfigDict, StrictStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from chat.errors import ServiceError
from chat.identity.owners import owner_of
from chat.jobs import kinds as job_kinds
from chat.jobs import records as job_records
from chat.jobs import selectors as job_selectors
from chat.jobs import service as job_service
from chat.jobs.priorities import Priority
from chat.web.api.common import (
    ErrorOut,
    WireTime,
    caller_owner,
    name_checked,
    request_user,
    room_checked,
    writer_of,
)

router = Router(tags=["jobs"])


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
    priority: Priority = Field(
        default="normal",
        description="workers take high before normal before low, in weighted rounds: of "
        "every 7 jobs a busy worker takes, 4 are high, 2 normal, 1 low (docs/jobs.md)",
    )

    room_of = field_validator("room")(room_checked)
    _name = field_validator("name")(name_checked)

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
    priority: Priority
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
        """The API view of a job record: its fields by name, and where it stands."""
        out = cls.model_validate(job, from_attributes=True)
        if job.progress_total is not None and job.progress_done is not None:
            out.progress = ProgressOut(done=job.progress_done, total=job.progress_total)
        if job.status == job_records.COMPLETED and job.result is not None:
            out.result_url = job_service.result_url(job.id)
            out.result_type = job.result.content_type
            out.result_bytes = job.result.size
        return out


class JobListOut(Schema):
    """A page of jobs, newest first."""

    items: list[JobOut]
    next_offset: int | None = Field(description="the offset of the next page; null: no more")


_JOB_ID_PATH = Path(
    ..., pattern=r"^[0-9a-f]{32}$", description="the id POST /api/jobs answered with (32 hex)"
)


_OWNER_NAME = Query(
    None, description="a guest without the page's cookie or a token: the name that started it"
)


async def _job(request: HttpRequest, job_id: str, name: str | None) -> job_records.Job:
    """The caller's job (staff may read any, from the admin's jobs page); anyone else's is
    404, as an unknown one is."""
    job = await job_selectors.job_get(job_id=job_id)
    if job is None:
        raise ServiceError("not_found", f"no job {job_id} of yours")
    if (await request_user(request)).is_staff:
        return job
    if job.owner != await caller_owner(request, name):
        raise ServiceError("not_found", f"no job {job_id} of yours")
    return job


@router.post(
    "/jobs",
    response={202: JobOut, 400: ErrorOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Start a job",
)
async def create_job(request: HttpRequest, body: JobBody) -> Status[JobOut]:
    """Queue the job and answer at once with its id; the owner's sockets hear when it ends.

    Counted against the sender's write rate like a message: a job is a write too."""
    who = await writer_of(request, body.name, None, field="name")
    job = await job_service.job_create(
        kind=body.kind,
        params=job_service.job_params(kind=body.kind, room=body.room, fmt=body.format),
        owner=owner_of(who),
        priority=body.priority,
    )
    return Status(202, JobOut.of(job))


@router.get(
    "/jobs",
    response={200: JobListOut, 422: ErrorOut, 503: ErrorOut},
    summary="List jobs",
)
async def list_jobs(
    request: HttpRequest,
    name: str | None = _OWNER_NAME,
    status: Literal["pending", "running", "completed", "failed"] | None = Query(
        None, description="only jobs in this status"
    ),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=100_000, description="next_offset of the previous page"),
) -> JobListOut:
    """The caller's jobs (staff: everyone's), newest first, a page at a time."""
    owner = None
    if not (await request_user(request)).is_staff:
        owner = await caller_owner(request, name)
        if owner is None:
            raise ValidationError(
                [{"loc": ("query", "name"), "type": "missing", "msg": "whose jobs? give name"}]
            )
    jobs = await job_selectors.job_list(owner=owner, status=status, limit=limit + 1, offset=offset)
    return JobListOut(
        items=[JobOut.of(job) for job in jobs[:limit]],
        next_offset=offset + limit if len(jobs) > limit else None,
    )


@router.get(
    "/jobs/{job_id}",
    response={200: JobOut, 404: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Read a job",
)
async def get_job(
    request: HttpRequest, job_id: str = _JOB_ID_PATH, name: str | None = _OWNER_NAME
) -> JobOut:
    """The job's status, attempts, progress, error and, once completed, its result URL."""
    return JobOut.of(await _job(request, job_id, name))


@router.get(
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
async def job_result(
    request: HttpRequest, job_id: str = _JOB_ID_PATH, name: str | None = _OWNER_NAME
) -> HttpResponse:
    """Stream the completed job's output; 409 while it runs (`not_ready`) or if it failed."""
    job = await _job(request, job_id, name)
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
