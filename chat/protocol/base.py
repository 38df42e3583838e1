"""What every part of the protocol shares: limits, close codes, the error, group names."""

from __future__ import annotations

import hashlib
import re

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


def group_name(room: str) -> str:
    """Channel-layer group of a room (validated room names are always valid group names)."""
    return f"room.{room}"


def owner_group(owner: str) -> str:
    """Channel-layer group of every socket of one job owner (any name becomes a valid group)."""
    return "owner." + hashlib.sha256(owner.encode()).hexdigest()[:40]


__all__ = [
    "CLOSE_BAD_REQUEST",
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_LIMITED",
    "CLOSE_SERVER_FULL",
    "CLOSE_TRY_AGAIN",
    "HISTORY_MAX_PAGE",
    "HISTORY_PAGE",
    "MAX_FRAME_BYTES",
    "MAX_NAME",
    "MAX_QUERY",
    "MAX_SEQ",
    "MAX_TEXT",
    "SEARCH_MAX_PAGE",
    "SEARCH_PAGE",
    "ProtocolError",
    "group_name",
    "owner_group",
]
