"""Outgoing events as typed models, each encoded once and forwarded as it is. Pure."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from chat.scheduled import rules as scheduling


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
    account: str | None = None
    room: str
    name: str
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
    """Messages containing `q` (any case), newest first; `has_more`: older matches may
    exist, asked for with `before_seq` = `next_before_seq` (a page reads a bounded stretch
    of the room, so it may hold fewer than `limit`, even none, and still have more)."""

    type: Literal["search"] = "search"
    q: str
    messages: list[MessageOut]
    has_more: bool
    before_seq: int | None = None
    next_before_seq: int | None = None


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
    client_id: str | None = None
    deliver_at: datetime


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


# A message's `seq` key in an encoded event: inside a JSON string every quote is escaped,
# so `"seq":` opening an object member is always the key itself.
_SEQ = re.compile(r'[{,]"seq":(\d+)')


def highest_seq(text: str) -> int | None:
    """The highest message seq in an encoded event (a message, batch or history), or None."""
    return max(map(int, _SEQ.findall(text)), default=None)


__all__ = [
    "Ack",
    "Error",
    "History",
    "JobEvent",
    "MessageOut",
    "Presence",
    "PresenceCount",
    "PresenceJoin",
    "PresenceLeave",
    "Scheduled",
    "ScheduledCancelled",
    "ScheduledItem",
    "ScheduledList",
    "SearchResults",
    "ServerEvent",
    "Typing",
    "Welcome",
    "highest_seq",
    "scheduled_list",
    "scheduled_reply",
]
