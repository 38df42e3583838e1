"""Queues for integrators: create them, produce, receive, acknowledge, dead letters.

Plain pydantic models, not ninja Schemas: those wrap every item of a 100-message batch in a
Django attribute getter, the largest cost of a batch after Redis.

Every call needs an account (a session, or a token with the `queues` scope); writes that
add or remove (queues, messages, redrives) count against the sender's write rate like a
chat message. Receiving and acknowledging are not limited: they only settle what exists.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, field_validator

from chat.errors import ServiceError
from chat.identity.accounts import Identity
from chat.messages import roomqueues
from chat.queues import rules, services
from chat.web.api.common import ErrorOut, WireTime, check_write, request_user, room_checked

router = Router(tags=["queues"])

_QUEUE = Path(
    ...,
    pattern=rules.NAME_RE.pattern,
    description="1-64 of letters, digits, '.', '_', '-', starting with a letter or digit",
    example="orders",
)
_ID = Path(..., min_length=1, max_length=64, description="the id the producer got")
_ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    404: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}
_WRITE_ERRORS: dict[int, type[Schema]] = {**_ERRORS, 429: ErrorOut}


class QueueBody(BaseModel):
    """A queue's settings."""

    model_config = ConfigDict(extra="forbid")

    visibility_s: StrictInt = Field(
        rules.DEFAULT_VISIBILITY_S,
        ge=1,
        le=rules.MAX_VISIBILITY_S,
        description="how long a received message stays hidden from other receivers",
    )
    max_receives: StrictInt = Field(
        rules.DEFAULT_MAX_RECEIVES,
        ge=0,
        le=rules.MAX_RECEIVES,
        description="receives after which an unacknowledged message goes to the dead "
        "letters (0: never)",
    )
    room: StrictStr | None = Field(
        None,
        max_length=64,
        description="a room whose every message stored from now on is enqueued, once, in seq order",
        examples=["lobby"],
    )

    @field_validator("room")
    @classmethod
    def _room(cls, value: str | None) -> str | None:
        return None if value is None else room_checked(value)


class QueueOut(BaseModel):
    """A queue and its figures."""

    name: str
    visibility_s: int
    max_receives: int
    room: str | None
    ready: int = Field(description="messages a receive would get now")
    in_flight: int = Field(description="received and not yet acknowledged or expired")
    delayed: int = Field(description="sent with delay_s, not ready yet")
    dead: int
    oldest_age_s: float | None = Field(description="age of the oldest message not acknowledged")

    @classmethod
    def of(cls, view: services.QueueView) -> QueueOut:
        settings = {name: getattr(view.config, name) for name in _SETTINGS}
        return cls(**settings, **asdict(view.counts))


_SETTINGS = ("name", "visibility_s", "max_receives", "room")


class QueueListOut(BaseModel):
    items: list[QueueOut]


class MessageBody(BaseModel):
    """A message to enqueue."""

    model_config = ConfigDict(extra="forbid")

    body: Any = Field(description="any JSON, at most 256 KiB encoded")
    delay_s: StrictInt = Field(0, ge=0, le=rules.MAX_DELAY_S, description="ready after this")
    client_id: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="repeat it on a retry: the same id comes back and nothing is enqueued twice "
        "(remembered for a day)",
    )


class SentOut(BaseModel):
    id: str


class BatchBody(BaseModel):
    """Messages to enqueue together."""

    model_config = ConfigDict(extra="forbid")

    messages: list[MessageBody] = Field(min_length=1, max_length=rules.MAX_RECEIVE)


class BatchSentOut(BaseModel):
    ids: list[str] = Field(description="in the order sent")


class AckItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StrictStr = Field(min_length=1, max_length=64)
    receipt: StrictStr = Field(min_length=1, max_length=200)


class AckBody(BaseModel):
    """Received messages to acknowledge together."""

    model_config = ConfigDict(extra="forbid")

    messages: list[AckItem] = Field(min_length=1, max_length=rules.MAX_RECEIVE)


class AckedOut(BaseModel):
    acked: list[str]
    stale: list[str] = Field(description="received again since: not deleted")
    unknown: list[str] = Field(description="no such message (acknowledged already?)")


class ReceiveBody(BaseModel):
    """What to receive."""

    model_config = ConfigDict(extra="forbid")

    max: StrictInt = Field(1, ge=1, le=rules.MAX_RECEIVE)
    visibility_s: StrictInt | None = Field(None, ge=1, le=rules.MAX_VISIBILITY_S)
    wait_s: StrictInt = Field(0, ge=0, le=rules.MAX_WAIT_S, description="long-poll this long")


class ReceivedMessage(BaseModel):
    id: str
    body: Any
    receipt: str = Field(description="acknowledge or extend with this")
    receives: int = Field(description="times received, this one included")
    enqueued_at: WireTime


class ReceivedOut(BaseModel):
    messages: list[ReceivedMessage]


class ExtendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt: StrictStr = Field(min_length=1, max_length=200)
    visibility_s: StrictInt | None = Field(None, ge=1, le=rules.MAX_VISIBILITY_S)


class ExtendedOut(BaseModel):
    visibility_s: int


class DeadOut(BaseModel):
    id: str
    body: Any
    receives: int
    enqueued_at: WireTime
    why: str = Field(description="max_receives, or what its consumer said")


class DeadListOut(BaseModel):
    items: list[DeadOut]


class RedriveOut(BaseModel):
    moved: int


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def _writer(request: HttpRequest, *, client_id: str | None = None) -> None:
    """The caller's account, counted against its write rate; 401 without one."""
    user = await _account(request)
    check_write(request, Identity(name="", account=user.get_username()), client_id)


async def _account(request: HttpRequest) -> Any:
    user = await request_user(request)
    if not user.is_authenticated:
        raise ServiceError(
            "not_signed_in", "queues need an account: sign in, or send a token with `queues`"
        )
    return user


@router.get(
    "/queues", response={200: QueueListOut, 401: ErrorOut, 503: ErrorOut}, summary="List queues"
)
async def list_queues(request: HttpRequest) -> QueueListOut:
    """Every queue with its counts."""
    await _account(request)
    return QueueListOut(items=[QueueOut.of(view) for view in await services.queue_list()])


@router.put(
    "/queues/{queue}",
    response={200: QueueOut, 201: QueueOut, **_WRITE_ERRORS},
    summary="Create or update a queue",
)
async def put_queue(request: HttpRequest, body: QueueBody, queue: str = _QUEUE) -> Status[QueueOut]:
    """201 when created, 200 when updated; binding a room starts with its next message."""
    await _writer(request)
    view, created = await roomqueues.queue_put(
        name=queue, visibility_s=body.visibility_s, max_receives=body.max_receives, room=body.room
    )
    return Status(201 if created else 200, QueueOut.of(view))


@router.get("/queues/{queue}", response={200: QueueOut, **_ERRORS}, summary="Read a queue")
async def get_queue(request: HttpRequest, queue: str = _QUEUE) -> QueueOut:
    await _account(request)
    return QueueOut.of(await services.queue_get(name=queue))


@router.delete("/queues/{queue}", response={204: None, **_WRITE_ERRORS}, summary="Delete a queue")
async def delete_queue(request: HttpRequest, queue: str = _QUEUE) -> Status[None]:
    """The queue and every message in it."""
    await _writer(request)
    await services.queue_delete(name=queue)
    return Status(204, None)


@router.post(
    "/queues/{queue}/messages",
    response={201: SentOut, 413: ErrorOut, **_WRITE_ERRORS},
    summary="Send a message",
)
async def send_message(
    request: HttpRequest, body: MessageBody, queue: str = _QUEUE
) -> Status[SentOut]:
    """201 with the message's id once it is stored in the queue (a resend too)."""
    await _writer(request, client_id=body.client_id)
    message_id, _created = await services.message_send(
        queue=queue, body=body.body, delay_s=body.delay_s, client_id=body.client_id
    )
    return Status(201, SentOut(id=message_id))


@router.post(
    "/queues/{queue}/messages/batch",
    response={201: BatchSentOut, 413: ErrorOut, **_WRITE_ERRORS},
    summary="Send messages",
)
async def send_messages(
    request: HttpRequest, body: BatchBody, queue: str = _QUEUE
) -> Status[BatchSentOut]:
    """Up to 100 messages in one request, each counted against the write rate; all or none
    are enqueued (a resend of one with a client_id gets its first id)."""
    for message in body.messages:
        await _writer(request, client_id=message.client_id)
    ids = await services.messages_send(
        queue=queue, messages=[(m.body, m.delay_s, m.client_id) for m in body.messages]
    )
    return Status(201, BatchSentOut(ids=ids))


@router.post(
    "/queues/{queue}/receive", response={200: ReceivedOut, **_ERRORS}, summary="Receive messages"
)
async def receive(request: HttpRequest, body: ReceiveBody, queue: str = _QUEUE) -> ReceivedOut:
    """Messages nobody else holds, each hidden from other receivers for the visibility."""
    await _account(request)
    got = await services.messages_receive(
        queue=queue, max_messages=body.max, visibility_s=body.visibility_s, wait_s=body.wait_s
    )
    return ReceivedOut(
        messages=[
            ReceivedMessage(
                id=m.id,
                body=m.body,
                receipt=m.receipt,
                receives=m.receives,
                enqueued_at=_at(m.enqueued_ms),
            )
            for m in got
        ]
    )


@router.delete(
    "/queues/{queue}/messages/{message_id}",
    response={204: None, 409: ErrorOut, **_ERRORS},
    summary="Acknowledge a message",
)
async def ack(
    request: HttpRequest,
    queue: str = _QUEUE,
    message_id: str = _ID,
    receipt: str = Query(..., min_length=1, max_length=200, description="from the receive"),
) -> HttpResponse | Status[None]:
    """Delete a received message; 409 stale_receipt (nothing deleted) if it was received
    again after its visibility ended."""
    await _account(request)
    await services.message_ack(queue=queue, message_id=message_id, receipt=receipt)
    return Status(204, None)


@router.post(
    "/queues/{queue}/ack", response={200: AckedOut, **_ERRORS}, summary="Acknowledge messages"
)
async def ack_many(request: HttpRequest, body: AckBody, queue: str = _QUEUE) -> AckedOut:
    """Up to 100 received messages at once; each is acked, stale or unknown as alone."""
    await _account(request)
    split = await services.messages_ack(
        queue=queue, pairs=[(item.id, item.receipt) for item in body.messages]
    )
    return AckedOut(**split)


@router.post(
    "/queues/{queue}/messages/{message_id}/extend",
    response={200: ExtendedOut, 409: ErrorOut, **_ERRORS},
    summary="Extend a message's visibility",
)
async def extend(
    request: HttpRequest, body: ExtendBody, queue: str = _QUEUE, message_id: str = _ID
) -> ExtendedOut:
    """Keep the message hidden for visibility_s more from now (the queue's by default)."""
    await _account(request)
    seconds = await services.message_extend(
        queue=queue, message_id=message_id, receipt=body.receipt, visibility_s=body.visibility_s
    )
    return ExtendedOut(visibility_s=seconds)


@router.get("/queues/{queue}/dead", response={200: DeadListOut, **_ERRORS}, summary="Dead letters")
async def dead(
    request: HttpRequest, queue: str = _QUEUE, limit: int = Query(100, ge=1, le=1000)
) -> DeadListOut:
    """The oldest dead letters first."""
    await _account(request)
    letters = await services.dead_list(queue=queue, limit=limit)
    return DeadListOut(
        items=[
            DeadOut(
                id=d.id,
                body=rules.decode_body(d.body),
                receives=d.receives,
                enqueued_at=_at(d.enqueued_ms),
                why=d.why,
            )
            for d in letters
        ]
    )


@router.post(
    "/queues/{queue}/dead/redrive",
    response={200: RedriveOut, **_WRITE_ERRORS},
    summary="Redrive dead letters",
)
async def redrive(
    request: HttpRequest, queue: str = _QUEUE, limit: int = Query(1000, ge=1, le=10000)
) -> RedriveOut:
    """Put dead letters back in the queue, oldest first, their receives reset."""
    await _writer(request)
    return RedriveOut(moved=await services.dead_redrive(queue=queue, limit=limit))
