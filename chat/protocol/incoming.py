"""Incoming frames as typed models (pydantic, extra fields refused), parsed with stable
error codes; the room, name and cursor of a connection URL. Pure."""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chat.protocol.base import (
    _MAX_SEQ_DIGITS,
    _ROOM_RE,
    HISTORY_MAX_PAGE,
    HISTORY_PAGE,
    MAX_FRAME_BYTES,
    MAX_NAME,
    MAX_QUERY,
    MAX_SEQ,
    MAX_TEXT,
    SEARCH_MAX_PAGE,
    SEARCH_PAGE,
    ProtocolError,
)
from chat.scheduled import rules as scheduling


class _ClientEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_unicode(text: str) -> bool:
    """True when the text encodes as UTF-8: JSON's `\\ud800` escapes can carry lone
    surrogates, which no store or client can take."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_unicode(text: str) -> str:
    """Text that encodes as UTF-8 (a pydantic field validator)."""
    if not is_unicode(text):
        raise PydanticCustomError(
            "invalid_unicode", "must be valid Unicode text (it holds a lone surrogate)"
        )
    return text


# A string field of an incoming event: strict, and valid Unicode.
Text = Annotated[StrictStr, AfterValidator(check_unicode)]
Seq = Annotated[StrictInt, Field(le=MAX_SEQ)]


def check_text(text: str) -> str:
    """A message text: not blank, at most MAX_TEXT characters (a pydantic field validator)."""
    check_unicode(text)
    if not text.strip():
        raise PydanticCustomError("empty_text", "text must not be empty")
    if len(text) > MAX_TEXT:
        raise PydanticCustomError(
            "text_too_long", "text is longer than {limit} characters", {"limit": MAX_TEXT}
        )
    return text


def check_deliver_at(raw: object) -> object:
    """A deliver_at in a format scheduling understands (a pydantic "before" validator)."""
    try:
        scheduling.parse_deliver_at(raw)
    except scheduling.ScheduleError as exc:
        raise PydanticCustomError(exc.code, exc.message) from None
    return raw


class MessageIn(_ClientEvent):
    """Post `text` to the room; `client_id` comes back in the `ack`."""

    type: Literal["message"]
    text: StrictStr
    client_id: Text | None = Field(default=None, max_length=64)

    _text_in_bounds = field_validator("text")(check_text)


class HistoryIn(_ClientEvent):
    """Ask for older messages (`before_seq`), newer ones (`after_seq`), the messages around
    one (`around_seq`: a search result in context), or the newest page."""

    type: Literal["history"]
    before_seq: Seq | None = Field(default=None, gt=0)
    after_seq: Seq | None = Field(default=None, ge=0)
    around_seq: Seq | None = Field(default=None, gt=0)
    limit: StrictInt = Field(default=HISTORY_PAGE, ge=1, le=HISTORY_MAX_PAGE)

    @model_validator(mode="after")
    def _one_cursor(self) -> HistoryIn:
        cursors = (self.before_seq, self.after_seq, self.around_seq)
        if sum(cursor is not None for cursor in cursors) > 1:
            raise PydanticCustomError(
                "invalid_field", "give one of before_seq, after_seq, around_seq"
            )
        return self


def check_query(raw: str) -> str:
    """A search query: outer whitespace trimmed, 1-MAX_QUERY characters (a field validator)."""
    query = check_unicode(raw).strip()
    if not query:
        raise PydanticCustomError("empty_query", "q must not be empty")
    if len(query) > MAX_QUERY:
        raise PydanticCustomError(
            "query_too_long", "q is longer than {limit} characters", {"limit": MAX_QUERY}
        )
    return query


class SearchIn(_ClientEvent):
    """Find the room's messages containing `q` (any case), newest first, older than before_seq."""

    type: Literal["search"]
    q: StrictStr
    limit: StrictInt = Field(default=SEARCH_PAGE, ge=1, le=SEARCH_MAX_PAGE)
    before_seq: Seq | None = Field(default=None, gt=0)

    _query = field_validator("q")(check_query)


class ScheduleIn(_ClientEvent):
    """Post `text` later, at `deliver_at`; `client_id` makes a resend schedule nothing new."""

    type: Literal["schedule"]
    text: StrictStr
    deliver_at: Text | StrictInt
    client_id: Text | None = Field(default=None, max_length=64)

    _text_in_bounds = field_validator("text")(check_text)
    _deliver_at_format = field_validator("deliver_at", mode="before")(check_deliver_at)


class ScheduledListIn(_ClientEvent):
    """Ask for this name's messages scheduled in the room and not yet delivered."""

    type: Literal["scheduled.list"]


class ScheduledCancelIn(_ClientEvent):
    """Cancel one of this name's scheduled messages while it is still pending."""

    type: Literal["scheduled.cancel"]
    id: Text = Field(max_length=32)


class TypingIn(_ClientEvent):
    """The sender is typing; shown to the others for a few seconds, never stored, no reply."""

    type: Literal["typing"]


class JobSeenIn(_ClientEvent):
    """The client has shown a `job` notification: do not deliver it again."""

    type: Literal["job.seen"]
    id: Text = Field(max_length=64)


AnyClientEvent = (
    MessageIn
    | HistoryIn
    | ScheduleIn
    | ScheduledListIn
    | ScheduledCancelIn
    | TypingIn
    | JobSeenIn
    | SearchIn
)
ClientEvent = Annotated[AnyClientEvent, Field(discriminator="type")]
_client_event = TypeAdapter(ClientEvent)
CLIENT_EVENT_TYPES = (
    "message",
    "history",
    "schedule",
    "scheduled.list",
    "scheduled.cancel",
    "typing",
    "search",
    "job.seen",
)
# Codes a field validator raises that the client sees as they are (others: invalid_field).
_FIELD_CODES = {
    "empty_text",
    "text_too_long",
    "invalid_deliver_at",
    "deliver_at_too_far",
    "empty_query",
    "query_too_long",
}


def parse_client_event(frame: str | bytes) -> AnyClientEvent:
    """Parse one frame from a client or raise ProtocolError with a stable code."""
    size = len(frame.encode() if isinstance(frame, str) else frame)
    if size > MAX_FRAME_BYTES:
        raise ProtocolError("frame_too_large", f"frames are limited to {MAX_FRAME_BYTES} bytes")
    try:
        data = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("invalid_json", "frame is not valid JSON") from None
    except RecursionError:
        raise ProtocolError("invalid_json", "frame is nested too deeply") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_event", "an event must be a JSON object")
    if data.get("type") not in CLIENT_EVENT_TYPES:
        raise ProtocolError("unknown_type", f"type must be one of: {', '.join(CLIENT_EVENT_TYPES)}")
    try:
        return _client_event.validate_python(data)
    except ValidationError as exc:
        raise _protocol_error(exc) from None


def _protocol_error(exc: ValidationError) -> ProtocolError:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"][1:]) or "event"
    code = first["type"] if first["type"] in _FIELD_CODES else "invalid_field"
    if first["type"] == "missing" and field == "text":
        code = "empty_text"
    if first["type"] == "missing" and field == "q":
        code = "empty_query"
    return ProtocolError(code, f"{field}: {first['msg']}")


def parse_after_seq(raw: str | None) -> int | None:
    """The resume cursor from a connection URL: None, or an integer >= 0."""
    if raw is None:
        return None
    # The length first: int() of thousands of digits is slow, and refused past 4,300.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_SEQ_DIGITS) or int(raw) > MAX_SEQ:
        raise ProtocolError("invalid_field", f"after_seq: must be an integer 0-{MAX_SEQ}")
    return int(raw)


def validate_name(raw: str | None) -> str:
    """Return the display name, stripped, or raise ProtocolError."""
    name = (raw or "").strip()
    try:
        check_unicode(name)
    except PydanticCustomError as exc:
        raise ProtocolError("invalid_name", f"name {exc.message()}") from None
    if not name:
        raise ProtocolError("invalid_name", "name must not be empty")
    if len(name) > MAX_NAME:
        raise ProtocolError("invalid_name", f"name is longer than {MAX_NAME} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ProtocolError("invalid_name", "name must not contain control characters")
    return name


def validate_room(raw: str | None) -> str:
    """Return the canonical (lower-case) room name, or raise ProtocolError."""
    room = (raw or "").strip().lower()
    if not _ROOM_RE.fullmatch(room):
        raise ProtocolError(
            "invalid_room",
            "room names are 1-64 letters, digits, '-' or '_', starting with a letter or digit",
        )
    return room


__all__ = [
    "CLIENT_EVENT_TYPES",
    "AnyClientEvent",
    "ClientEvent",
    "HistoryIn",
    "JobSeenIn",
    "MessageIn",
    "ScheduleIn",
    "ScheduledCancelIn",
    "ScheduledListIn",
    "SearchIn",
    "Seq",
    "Text",
    "TypingIn",
    "check_deliver_at",
    "check_query",
    "check_text",
    "check_unicode",
    "is_unicode",
    "parse_after_seq",
    "parse_client_event",
    "validate_name",
    "validate_room",
]
