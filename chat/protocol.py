"""Every wire event as a typed model: parse incoming frames, build outgoing ones. Pure."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime
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

from chat.scheduled import rules as scheduling

MAX_FRAME_BYTES = 64 * 1024
MAX_TEXT = 4000
MAX_NAME = 32
HISTORY_PAGE = 50
HISTORY_MAX_PAGE = 200
SEARCH_PAGE = 20
SEARCH_MAX_PAGE = 50
MAX_QUERY = 200
# The highest seq (or other integer) the protocol takes: what a JavaScript number holds
# exactly, far below what MongoDB's 64-bit integers overflow at.
MAX_SEQ = 2**53
# Digits of the largest integer a URL's after_seq may have (MAX_SEQ has 16).
_MAX_SEQ_DIGITS = len(str(MAX_SEQ))

# Close codes sent after an `error` event when a connection cannot be served.
CLOSE_BAD_REQUEST = 4400
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN = 1013
# A server fault the connection cannot go on from (logged; the client reconnects).
CLOSE_INTERNAL_ERROR = 1011
# Refused by a per-address connection limit, or by a worker at its connection limit.
CLOSE_LIMITED = 4429
CLOSE_SERVER_FULL = 4503

_ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ProtocolError(Exception):
    """A frame the client sent that the server cannot act on; becomes an `error` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---- incoming ---------------------------------------------------------------------------


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


# ---- outgoing ---------------------------------------------------------------------------


class ServerEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def encode(self) -> str:
        """Serialise once; recipients forward this text as it is."""
        return self.model_dump_json()


class MessageOut(ServerEvent):
    """A stored chat message, as broadcast and as replayed in history."""

    type: Literal["message"] = "message"
    id: str
    seq: int
    room: str
    author: str
    # The author's account when they were signed in; None: a guest (or stored before accounts).
    account: str | None = None
    text: str
    ts: datetime


class Welcome(ServerEvent):
    """First event on a connection: who and where the client is."""

    type: Literal["welcome"] = "welcome"
    room: str
    name: str
    account: str | None = None
    worker: str
    last_seq: int


class History(ServerEvent):
    """A page of messages in ascending `seq` order and the cursor it answers.

    `has_more`: more exist in the page's direction (newer for `after_seq`, older otherwise);
    an `around_seq` page also says whether newer ones exist (`has_newer`).
    """

    type: Literal["history"] = "history"
    messages: list[MessageOut]
    has_more: bool
    before_seq: int | None = None
    after_seq: int | None = None
    around_seq: int | None = None
    has_newer: bool | None = None


class SearchResults(ServerEvent):
    """Messages containing `q` (any case), newest first; `has_more`: older matches exist."""

    type: Literal["search"] = "search"
    q: str
    messages: list[MessageOut]
    has_more: bool
    before_seq: int | None = None


class Ack(ServerEvent):
    """Sent to the sender only, after its message was stored."""

    type: Literal["ack"] = "ack"
    client_id: str | None
    id: str
    seq: int


class Error(ServerEvent):
    """A request that could not be served; the connection stays open unless said otherwise."""

    type: Literal["error"] = "error"
    code: str
    message: str
    client_id: str | None = None
    retry_after_ms: int | None = None


class Typing(ServerEvent):
    """Someone else in the room is typing (sent at most every few seconds while they type)."""

    type: Literal["typing"] = "typing"
    name: str


class Presence(ServerEvent):
    """Sent on join: the names present now (each once, however many tabs) and their version.

    `count` names are present; a big room lists only some of them in `members` (the joining
    name among them). A `presence.join` or `presence.leave` changes a name only when its
    `version` is higher than this one and than the last applied change of that name (they
    may arrive out of order).
    """

    type: Literal["presence"] = "presence"
    members: list[str]
    count: int
    version: int


class PresenceJoin(ServerEvent):
    """A name that was not present opened its first connection to the room."""

    type: Literal["presence.join"] = "presence.join"
    name: str
    version: int


class PresenceCount(ServerEvent):
    """How many names are present, instead of the names, in a room too big to list them all."""

    type: Literal["presence.count"] = "presence.count"
    count: int
    version: int


class PresenceLeave(ServerEvent):
    """A name's last connection closed, or expired because its worker stopped refreshing it."""

    type: Literal["presence.leave"] = "presence.leave"
    name: str
    version: int


class ScheduledItem(BaseModel):
    """One pending scheduled message in a `scheduled.list`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    deliver_at: datetime


class Scheduled(ServerEvent):
    """Sent to the scheduler only: the message is stored and will be delivered at `deliver_at`."""

    type: Literal["scheduled"] = "scheduled"
    id: str
    deliver_at: datetime
    client_id: str | None = None


class ScheduledList(ServerEvent):
    """The asker's pending scheduled messages in the room, earliest first."""

    type: Literal["scheduled.list"] = "scheduled.list"
    items: list[ScheduledItem]


class ScheduledCancelled(ServerEvent):
    """A scheduled message was cancelled and will not be delivered."""

    type: Literal["scheduled.cancelled"] = "scheduled.cancelled"
    id: str


class JobEvent(ServerEvent):
    """One of the owner's jobs finished: sent to each of their sockets until one says job.seen."""

    type: Literal["job"] = "job"
    id: str
    kind: str
    status: Literal["completed", "failed"]
    result_url: str | None = None
    error: str | None = None


def scheduled_reply(item: scheduling.ScheduledMessage, *, client_id: str | None) -> Scheduled:
    """The `scheduled` answer to a `schedule` request."""
    return Scheduled(id=item.id, deliver_at=item.deliver_at, client_id=client_id)


def scheduled_list(items: list[scheduling.ScheduledMessage]) -> ScheduledList:
    """The `scheduled.list` answer."""
    return ScheduledList(
        items=[ScheduledItem(id=i.id, text=i.text, deliver_at=i.deliver_at) for i in items]
    )


def group_name(room: str) -> str:
    """Channel-layer group of a room (validated room names are always valid group names)."""
    return f"room.{room}"


def owner_group(owner: str) -> str:
    """Channel-layer group of every socket of one job owner (any name becomes a valid group)."""
    return "owner." + hashlib.sha256(owner.encode()).hexdigest()[:40]
