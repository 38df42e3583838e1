"""Pure parts of the jobs: retry delays, transcript encodings, room statistics, events."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from chat.jobs.formats import RoomStats, TranscriptEncoder, backoff_ms, error_text
from chat.protocol import (
    JobEvent,
    JobSeenIn,
    MessageOut,
    ProtocolError,
    owner_group,
    parse_client_event,
)


def message(seq: int, author: str = "ann", text: str = "hi", hour: int = 9) -> MessageOut:
    return MessageOut(
        id=f"{seq:024x}",
        seq=seq,
        room="r",
        author=author,
        text=text,
        ts=datetime(2026, 1, 2, hour, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (40, 1000)]
)
def test_backoff_doubles_per_attempt_up_to_the_cap(attempt: int, delay: int) -> None:
    """The first retry waits the base, each later one twice the last, never above the cap."""
    assert backoff_ms(attempt, base_ms=100, cap_ms=1000) == delay


def test_error_text_names_the_exception_and_is_bounded() -> None:
    """A kept error says what failed, and a huge message is cut."""
    assert error_text(ValueError("bad room")) == "ValueError: bad room"
    assert error_text(TimeoutError()) == "TimeoutError"
    assert len(error_text(RuntimeError("x" * 5000))) == 500


def encode(fmt: str, batches: list[list[MessageOut]]) -> str:
    encoder = TranscriptEncoder(room="r", fmt=fmt)  # type: ignore[arg-type]
    return encoder.head() + "".join(encoder.batch(b) for b in batches) + encoder.tail()


@pytest.mark.parametrize(
    "batches", [[], [[]], [[message(1)]], [[message(1), message(2)], [message(3)]]]
)
def test_json_transcript_is_valid_json_with_every_message_in_order(
    batches: list[list[MessageOut]],
) -> None:
    """However the batches fall, the pieces join into one JSON document."""
    doc = json.loads(encode("json", batches))
    expected = [m.model_dump(mode="json", exclude={"type"}) for b in batches for m in b]
    assert doc == {"room": "r", "messages": expected}


def test_csv_transcript_quotes_commas_quotes_and_newlines() -> None:
    """Texts with CSV's special characters read back unchanged."""
    texts = ['a, "b"', "two\nlines", "plain"]
    text = encode("csv", [[message(i + 1, text=t) for i, t in enumerate(texts)]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["seq", "id", "ts", "author", "text"]
    assert [r[4] for r in rows[1:]] == texts
    assert rows[1][2] == "2026-01-02T09:30:00Z"


def test_room_stats_rank_authors_and_hours() -> None:
    """Authors by count then name; all 24 hours; the busiest hours first."""
    stats = RoomStats(room="r")
    stats.add([message(1, "bo", hour=9), message(2, "al", hour=9)])
    stats.add([message(3, "bo", hour=14), message(4, "cy", hour=23)])
    result = stats.result(busiest=2)
    assert result["messages"] == 4
    assert result["authors"] == [
        {"author": "bo", "messages": 2},
        {"author": "al", "messages": 1},
        {"author": "cy", "messages": 1},
    ]
    assert len(result["hours"]) == 24 and result["hours"][9] == {"hour": 9, "messages": 2}
    assert result["busiest_hours"] == [9, 14]


def test_an_empty_room_has_empty_stats() -> None:
    """No messages: zero counts, no busiest hour."""
    result = RoomStats(room="r").result()
    assert (result["messages"], result["authors"], result["busiest_hours"]) == (0, [], [])


def test_job_seen_parses_and_needs_an_id() -> None:
    """job.seen carries the id of the job whose event was shown."""
    assert parse_client_event('{"type": "job.seen", "id": "abc"}') == JobSeenIn(
        type="job.seen", id="abc"
    )
    with pytest.raises(ProtocolError) as missing:
        parse_client_event('{"type": "job.seen"}')
    assert missing.value.code == "invalid_field"


def test_job_event_has_the_documented_fields() -> None:
    """The `job` event: type, id, kind, status, result_url, error."""
    event = JobEvent(id="j", kind="export", status="completed", result_url="/api/jobs/j/result")
    assert json.loads(event.encode()) == {
        "type": "job",
        "id": "j",
        "kind": "export",
        "status": "completed",
        "result_url": "/api/jobs/j/result",
        "error": None,
    }


@pytest.mark.parametrize("owner", ["alice", "Ünï cødé ✓", "x" * 32, "a.b-c_d"])
def test_owner_groups_are_valid_channel_group_names(owner: str) -> None:
    """Any chat name maps to a short ASCII group name, a different one per name."""
    group = owner_group(owner)
    assert group.isascii() and len(group) < 100
    assert all(ch.isalnum() or ch in "._-" for ch in group)
    assert group != owner_group(owner + "!")
