"""Deleting stored history on an operator's request. Seqs are never reused afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

from chat.messages import store


def parse_before(raw: str) -> datetime:
    """Parse an ISO date or datetime for `--before`; naive values are UTC."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(
            f"invalid date {raw!r}: use an ISO date or datetime, "
            "e.g. 2024-05-01, 2024-05-01T12:00 or 2024-05-01T12:00:00+02:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def describe(*, room: str | None, before: datetime | None) -> str:
    """Human wording of a purge's scope, for prompts and logs."""
    where = f"in room {room}" if room else "in all rooms"
    when = f" older than {before.isoformat()}" if before else ""
    return f"{where}{when}"


async def count_matching(*, room: str | None, before: datetime | None) -> int:
    """How many messages a purge with these filters would delete."""
    return await store.count_messages(room=room, before=before)


async def purge(*, room: str | None, before: datetime | None) -> int:
    """Delete the matching messages; the seq counters stay, so seqs are never reused."""
    return await store.delete_messages(room=room, before=before)
