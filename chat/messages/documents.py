"""The message store's collections and a message's document shape (to and from MessageOut)."""

from __future__ import annotations

import hashlib
from typing import Any

from bson import ObjectId

from chat.protocol import MessageOut

# One document per message, its `_id` derived from room and seq (`message_id`): the one key
# FerretDB looks up without reading the whole collection (docs/performance.md#store-shape).
MESSAGES = "messages_by_seq"
# Before that shape: `_id` random or derived from the client_id; copied by chat.messages.migration.
LEGACY_MESSAGES = "messages"
# Per room and client_id (`client_id_key`): the seq its message took, so a resend's original
# is two gets by key. Written after the message; the unique index on messages decides.
CLIENT_IDS = "client_ids"
# Per room: the floor for sequence numbers, raised before messages are deleted, so a counter
# re-seeded after deletes never hands out the seq of a deleted message again; and its
# figures (messages, last_seq, last_ts), kept as messages are stored and deleted.
ROOMS = "rooms"
# Search index (chat.messages.searchindex): per room, level and unit of seqs, the seqs whose
# text holds each trigram (`token_key`), written once the unit is sealed; and each sealed
# unit's marker (`unit_key`): its message count, running total and newest message.
SEARCH_TOKENS = "search_tokens"
SEARCH_UNITS = "search_units"
# One-off markers, such as "the room figures were computed for messages stored before them".
META = "meta"


def _key(*parts: str) -> ObjectId:
    joined = "\0".join(parts).encode("utf-8", "surrogatepass")
    return ObjectId(hashlib.blake2b(joined, digest_size=12).digest())


def message_key(room: str, seq: int) -> ObjectId:
    """The `_id` of the room's message with this seq: each seq is stored at most once."""
    return _key("seq", room, str(seq))


def message_id(room: str, seq: int) -> str:
    """A message's id as clients see it: its `message_key` in hex."""
    return str(message_key(room, seq))


def client_id_key(room: str, client_id: str) -> ObjectId:
    """The `_id` of the room's CLIENT_IDS entry for this client_id."""
    return _key("client_id", room, client_id)


def token_key(room: str, level: int, unit: int, gram: str) -> ObjectId:
    """The `_id` of the seqs of a room's unit whose text holds `gram`."""
    return _key("tok", room, str(level), str(unit), gram)


def unit_key(room: str, level: int, unit: int) -> ObjectId:
    """The `_id` of a room's sealed-unit marker."""
    return _key("unit", room, str(level), str(unit))


def to_doc(message: MessageOut, client_id: str | None = None) -> dict[str, Any]:
    return {
        "_id": message_key(message.room, message.seq),
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
