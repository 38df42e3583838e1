"""Scheduled messages, the pure part: when a message is due, ids, and how long to sleep."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Farther ahead than this is refused: almost surely a typo, and it would sit in Redis for good.
HORIZON = timedelta(days=365)
HORIZON_MS = int(HORIZON.total_seconds() * 1000)
NOW = "now"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ids are a Redis counter; inside Redis they are zero-padded to this width so that members of
# a sorted set with the same due time (which Redis orders by member) sort in scheduling order.
MEMBER_WIDTH = 16
MAX_ID = 10**MEMBER_WIDTH - 1
# Epoch milliseconds below this are almost surely seconds: 1e11 ms is March 1973.
_SMALLEST_MS = 10**11
_ID_RE = re.compile(r"^[1-9][0-9]{0,15}$")


class ScheduleError(ValueError):
    """A deliver_at or id that cannot be used; `code` is the wire error code.

    Messages leave out the field's name ("needs a UTC offset"); callers put it in front.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ScheduledMessage:
    """A scheduled message as its author sees it."""

    id: str
    room: str
    author: str
    text: str
    due_ms: int
    client_id: str | None = None

    @property
    def deliver_at(self) -> datetime:
        """When it is (or was) due, in UTC."""
        return from_ms(self.due_ms)


def parse_deliver_at(raw: object) -> int | None:
    """Epoch milliseconds of an ISO 8601 time with offset or of epoch ms; None for "now"."""
    if isinstance(raw, bool):
        raise ScheduleError("invalid_deliver_at", "must be a time, not a boolean")
    if isinstance(raw, int):
        if raw < _SMALLEST_MS:
            raise ScheduleError(
                "invalid_deliver_at", "a number must be epoch milliseconds (13 digits)"
            )
        return raw
    if not isinstance(raw, str):
        raise ScheduleError(
            "invalid_deliver_at",
            'must be an ISO 8601 time with offset, epoch milliseconds, or "now"',
        )
    text = raw.strip()
    if text.lower() == NOW:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(
            "invalid_deliver_at",
            "is not an ISO 8601 time (e.g. 2026-11-23T18:30:00+01:00)",
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ScheduleError("invalid_deliver_at", "needs a UTC offset (e.g. +01:00 or Z)")
    return to_ms(when)


def due_ms(requested: int | None, *, now_ms: int) -> int:
    """When to deliver: the requested time, or now if it has passed; refuse beyond the horizon."""
    if requested is None or requested <= now_ms:
        return now_ms
    if requested - now_ms > HORIZON_MS:
        raise ScheduleError("deliver_at_too_far", "is more than 365 days ahead")
    return requested


def resolve_deliver_at(raw: object, *, now_ms: int) -> int:
    """Parse and bound a deliver_at in one step: the epoch ms it is due."""
    return due_ms(parse_deliver_at(raw), now_ms=now_ms)


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of an aware datetime (exact: integer arithmetic, no float)."""
    return (when - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=ms)


def member_of(scheduled_id: str) -> str:
    """The Redis member of a public id ("42" -> "0000000000000042"); ScheduleError if bad."""
    if not isinstance(scheduled_id, str) or not _ID_RE.fullmatch(scheduled_id):
        raise ScheduleError("not_found", "no such scheduled message")
    return scheduled_id.zfill(MEMBER_WIDTH)


def id_of(member: str) -> str:
    """The public id of a Redis member ("0000000000000042" -> "42")."""
    return str(int(member))


def store_client_id(scheduled_id: str) -> str:
    """The client_id a delivered scheduled message is stored under: one copy per id."""
    return f"sched:{scheduled_id}"


def sleep_s(*, next_ms: int | None, now_ms: int, cap_s: float) -> float:
    """How long an idle scheduler sleeps: until the next due time or lease expiry, at most cap."""
    if next_ms is None:
        return cap_s
    return max(0.0, min(cap_s, (next_ms - now_ms) / 1000))


def retry_ms(attempts: int, *, lease_ms: int) -> int:
    """Delay before a failed delivery is tried again: 1 s doubling, at most one lease."""
    return min(lease_ms, 1000 * 2 ** max(0, min(attempts - 1, 20)))
