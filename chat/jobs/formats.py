"""Pure helpers of the jobs: retry delays, transcript encodings, room statistics."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from chat.protocol import MessageOut

Format = Literal["json", "csv"]
CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}
CSV_COLUMNS = ("seq", "id", "ts", "author", "text")
MAX_ERROR = 500


def backoff_ms(attempt: int, *, base_ms: int, cap_ms: int) -> int:
    """Delay before retrying after failed attempt number `attempt` (1-based): doubling, capped."""
    return min(cap_ms, base_ms * 2 ** min(max(attempt - 1, 0), 30))


def error_text(exc: BaseException) -> str:
    """A failure as kept on the job: the exception's type and message, bounded."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def message_record(message: MessageOut) -> dict[str, Any]:
    """One message as an export holds it: the `message` event's fields without `type`."""
    return message.model_dump(mode="json", exclude={"type"})


class TranscriptEncoder:
    """Text of a room's transcript written piece by piece, so no part needs all messages.

    JSON: `{"room": ..., "messages": [...]}`; CSV: a header row, then one row per message.
    """

    def __init__(self, *, room: str, fmt: Format) -> None:
        self.room = room
        self.fmt = fmt
        self.count = 0

    def head(self) -> str:
        """What comes before the first message."""
        if self.fmt == "csv":
            return self._csv_rows([CSV_COLUMNS])
        return '{"room": ' + json.dumps(self.room) + ', "messages": ['

    def batch(self, messages: Iterable[MessageOut]) -> str:
        """The text of the next messages in seq order."""
        if self.fmt == "csv":
            rows = [(m.seq, m.id, message_record(m)["ts"], m.author, m.text) for m in messages]
            self.count += len(rows)
            return self._csv_rows(rows)
        parts = []
        for message in messages:
            parts.append(("\n" if self.count == 0 else ",\n") + json.dumps(message_record(message)))
            self.count += 1
        return "".join(parts)

    def tail(self) -> str:
        """What comes after the last message."""
        return "" if self.fmt == "csv" else ("\n]}\n" if self.count else "]}\n")

    @staticmethod
    def _csv_rows(rows: Iterable[Iterable[object]]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(rows)
        return out.getvalue()


class RoomStats:
    """Per-author message counts and messages per hour of day (UTC), fed batch by batch."""

    def __init__(self, *, room: str) -> None:
        self.room = room
        self.total = 0
        self.authors: Counter[str] = Counter()
        self.hours: Counter[int] = Counter()

    def add(self, messages: Iterable[MessageOut]) -> None:
        """Count the next messages."""
        for message in messages:
            self.total += 1
            self.authors[message.author] += 1
            self.hours[message.ts.hour] += 1

    def result(self, *, busiest: int = 3) -> dict[str, Any]:
        """The statistics: authors by count (ties by name), the 24 hours, the busiest hours."""
        authors = sorted(self.authors.items(), key=lambda item: (-item[1], item[0]))
        ranked = sorted(
            (hour for hour in self.hours if self.hours[hour]),
            key=lambda hour: (-self.hours[hour], hour),
        )
        return {
            "room": self.room,
            "messages": self.total,
            "authors": [{"author": name, "messages": count} for name, count in authors],
            "hours": [{"hour": hour, "messages": self.hours[hour]} for hour in range(24)],
            "busiest_hours": ranked[:busiest],
        }
