"""Scheduled messages: schedule, list and cancel an author's pending ones."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict, StrictInt, StrictStr, field_validator

from chat.identity.owners import owner_of
from chat.messages import selectors
from chat.protocol import MAX_NAME, Text, check_deliver_at, check_text
from chat.scheduled import services as scheduled_services
from chat.scheduled.rules import ScheduledMessage
from chat.web.api.common import ErrorOut, author_of, identity_of, name_checked, room_of, writer_of

router = Router(tags=["scheduled messages"])


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
    author_of = field_validator("author")(name_checked)


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
        """The API view of a scheduled message (its fields by name)."""
        return cls.model_validate(item, from_attributes=True)


class ScheduledListOut(Schema):
    """An author's pending scheduled messages in a room, earliest first."""

    items: list[ScheduledOut]


@router.post(
    "/rooms/{room}/scheduled",
    response={201: ScheduledOut, 400: ErrorOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Schedule a message",
)
async def schedule_message(
    request: HttpRequest, room: str, body: ScheduleBody
) -> Status[ScheduledOut]:
    """Deliver `text` to the room at `deliver_at`, posted by `author`."""
    who = await writer_of(request, body.author, body.client_id, field="author")
    item = await scheduled_services.scheduled_message_create(
        room=room_of(room),
        sender=who,
        text=body.text,
        deliver_at=body.deliver_at,
        client_id=body.client_id,
    )
    return Status(201, ScheduledOut.of(item))


@router.get(
    "/rooms/{room}/scheduled",
    response={200: ScheduledListOut, 422: ErrorOut, 503: ErrorOut},
    summary="List pending scheduled messages",
)
async def list_scheduled(request: HttpRequest, room: str, author: str) -> ScheduledListOut:
    """The author's messages in the room that are not delivered yet."""
    who = await identity_of(request, author_of(author), where="query", field="author")
    items = await selectors.scheduled_pending(room=room_of(room), holder=owner_of(who))
    return ScheduledListOut(items=[ScheduledOut.of(item) for item in items])


@router.delete(
    "/rooms/{room}/scheduled/{scheduled_id}",
    response={204: None, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Cancel a scheduled message",
)
async def cancel_scheduled(
    request: HttpRequest, room: str, scheduled_id: str, author: str
) -> Status[None]:
    """Cancel while pending; 409 `too_late` once it is being delivered or was delivered."""
    who = await identity_of(request, author_of(author), where="query", field="author")
    await scheduled_services.scheduled_message_cancel(
        room=room_of(room), holder=owner_of(who), scheduled_id=scheduled_id
    )
    return Status(204, None)
