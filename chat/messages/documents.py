"""The message store's collections and a message's document shape (to and from MessageOut)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from chat.protocol import MessageOut

MESSAGES = "messages"
# Per room: the floor for sequence numbers, raised before messages are deleted, so a counter
# re-seeded after deletes never hands out the seq of a deleted message again; and its
# figures (messages, last_seq, last_ts), kept as messages are stored and deleted.
ROOMS = "rooms"
# One-off markers, such as "the room figures were computed for messages stored before them".
META = "meta"


def to_doc(message: MessageOut, client_id: str | None = None) -> dict[str, Any]:
    return {
        "_id": ObjectId(message.id),
        "room": message.room,
        "seq": message.seq,
        "client_id": client_id or f"srv-{message.id}",
        "author": message.author,
        "account": message.account,
        "text": message.text,
        "ts": message.ts,
    }


def from_doc(doc: dict[str, Any]) -> MessageOut:
    return MessageOut(
        id=str(doc["_id"]),
        seq=doc["seq"],
        room=doc["room"],
        author=doc["author"],
        account=doc.get("account"),
        text=doc["text"],
        ts=doc["ts"],
    )
