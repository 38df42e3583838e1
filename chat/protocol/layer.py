"""What crosses the channel layer, typed: each message a consumer handler receives.

The `type` names the handler (`chat.message` -> `chat_message`); texts are pre-encoded
outgoing events, forwarded as they are (chat.broadcast.events builds every one).
"""

from __future__ import annotations

from typing import Literal, TypedDict


class ChatMessage(TypedDict):
    """Messages stored together, in seq order; `seq` is the highest of them."""

    type: Literal["chat.message"]
    seq: int
    texts: list[str]
    published_at: float


class ChatTyping(TypedDict):
    """Someone is typing; `sender` is the typist's channel, which skips it."""

    type: Literal["chat.typing"]
    text: str
    sender: str


class ChatPresence(TypedDict):
    """Presence changes as (sender channel, encoded event) pairs; a sender skips its own."""

    type: Literal["chat.presence"]
    events: list[list[str]]


class JobNotice(TypedDict):
    """One of an owner's jobs ended: the encoded `job` event."""

    type: Literal["job.notice"]
    text: str
