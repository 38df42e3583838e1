"""Scheduled messages, the pure part: deliver_at parsing and bounds, ids, sleeps, frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chat.protocol import (
    ProtocolError,
    ScheduledCancelIn,
    ScheduledList,
    ScheduledListIn,
    ScheduleIn,
    parse_client_event,
    scheduled_list,
    scheduled_reply,
)
from chat.scheduled import rules as scheduling
from chat.scheduled.rules import ScheduledMessage, ScheduleError

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
NOW_MS = scheduling.to_ms(NOW)
DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-23T18:30:00+01:00", datetime(2026, 11, 23, 17, 30, tzinfo=UTC)),
        ("2026-11-23T17:30:00Z", datetime(2026, 11, 23, 17, 30, tzinfo=UTC)),
        ("2026-11-23T17:30:00.250Z", datetime(2026, 11, 23, 17, 30, 0, 250_000, tzinfo=UTC)),
        ("2026-11-23 12:30:00-05:00", datetime(2026, 11, 23, 17, 30, tzinfo=UTC)),
        (" 2026-11-23T17:30:00+00:00 ", datetime(2026, 11, 23, 17, 30, tzinfo=UTC)),
    ],
)
def test_iso_times_with_an_offset_are_read_as_that_instant(raw: str, expected: datetime) -> None:
    """Any ISO 8601 time with an offset (or Z) names one instant, kept to the millisecond."""
    assert scheduling.parse_deliver_at(raw) == scheduling.to_ms(expected)


def test_epoch_milliseconds_are_taken_as_they_are() -> None:
    """An integer is epoch milliseconds."""
    assert scheduling.parse_deliver_at(1_795_000_000_123) == 1_795_000_000_123


@pytest.mark.parametrize("raw", ["now", "NOW", " now "])
def test_now_means_no_particular_time(raw: str) -> None:
    """ "now" parses to None: deliver at once."""
    assert scheduling.parse_deliver_at(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-23T17:30:00",  # naive: which zone?
        "2026-11-23",
        "tomorrow",
        "",
        "17:30",
        "2026-13-01T00:00:00Z",
        1_795_000_000,  # seconds, not milliseconds
        -5,
        0,
        1.5e12,
        True,
        None,
        ["2026-11-23T17:30:00Z"],
    ],
)
def test_bad_formats_are_refused_with_invalid_deliver_at(raw: object) -> None:
    """Naive times, dates, words, seconds, floats and other types are refused."""
    with pytest.raises(ScheduleError) as info:
        scheduling.parse_deliver_at(raw)
    assert info.value.code == "invalid_deliver_at"
    assert info.value.message


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, NOW_MS),
        (NOW_MS - 60_000, NOW_MS),
        (NOW_MS, NOW_MS),
        (NOW_MS + 1, NOW_MS + 1),
        (NOW_MS + 365 * DAY_MS, NOW_MS + 365 * DAY_MS),
    ],
)
def test_past_times_deliver_now_and_future_ones_at_their_time(
    requested: int | None, expected: int
) -> None:
    """A time that has passed (or none) means now; up to 365 days ahead is kept."""
    assert scheduling.due_ms(requested, now_ms=NOW_MS) == expected


def test_more_than_a_year_ahead_is_refused() -> None:
    """One millisecond past the horizon is an error with its own code."""
    with pytest.raises(ScheduleError) as info:
        scheduling.due_ms(NOW_MS + 365 * DAY_MS + 1, now_ms=NOW_MS)
    assert info.value.code == "deliver_at_too_far"


def test_resolve_parses_and_bounds_in_one_step() -> None:
    """An ISO time an hour ahead resolves to its epoch ms; a past one to now."""
    in_an_hour = (NOW + timedelta(hours=1)).astimezone(timezone(timedelta(hours=9)))
    assert scheduling.resolve_deliver_at(in_an_hour.isoformat(), now_ms=NOW_MS) == (
        NOW_MS + 3_600_000
    )
    assert scheduling.resolve_deliver_at("2000-01-01T00:00:00Z", now_ms=NOW_MS) == NOW_MS


def test_milliseconds_convert_both_ways_exactly() -> None:
    """to_ms and from_ms are inverse, with no float rounding."""
    when = datetime(2026, 11, 23, 17, 36, 19, 323_000, tzinfo=UTC)
    assert scheduling.from_ms(scheduling.to_ms(when)) == when
    assert scheduling.to_ms(datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)) == 1


def test_ids_and_members_sort_in_scheduling_order() -> None:
    """Zero-padded members sort as the counter does, so equal due times keep their order."""
    ids = ["9", "10", "11", "100", "1234567890"]
    members = [scheduling.member_of(i) for i in ids]
    assert sorted(members) == members
    assert [scheduling.id_of(m) for m in members] == ids
    assert scheduling.member_of("42") == "0000000000000042"


@pytest.mark.parametrize("raw", ["", "0", "007", "-1", "abc", "1e3", "1" * 17, " 4"])
def test_malformed_ids_are_simply_not_found(raw: str) -> None:
    """An id that no counter made is reported as not found, not as a crash."""
    with pytest.raises(ScheduleError) as info:
        scheduling.member_of(raw)
    assert info.value.code == "not_found"


def test_a_delivered_copy_is_stored_under_a_client_id_of_its_own() -> None:
    """The store's unique (room, client_id) refuses a second copy of one scheduled id."""
    assert scheduling.store_client_id("42") == "sched:42"


@pytest.mark.parametrize(
    ("next_ms", "expected"),
    [
        (None, 5.0),  # nothing scheduled: look again after the cap
        (NOW_MS + 1_500, 1.5),
        (NOW_MS + 60_000, 5.0),
        (NOW_MS - 10, 0.0),
    ],
)
def test_an_idle_scheduler_sleeps_until_the_next_due_time_at_most_the_cap(
    next_ms: int | None, expected: float
) -> None:
    """The sleep is the time to the next due message or lease expiry, capped."""
    assert scheduling.sleep_s(next_ms=next_ms, now_ms=NOW_MS, cap_s=5.0) == expected


@pytest.mark.parametrize(
    ("attempts", "expected"), [(1, 1000), (2, 2000), (3, 4000), (5, 16_000), (9, 30_000)]
)
def test_failed_deliveries_are_retried_with_a_growing_delay_up_to_a_lease(
    attempts: int, expected: int
) -> None:
    """1 s, 2 s, 4 s, ... never longer than the lease."""
    assert scheduling.retry_ms(attempts, lease_ms=30_000) == expected


def test_a_scheduled_message_knows_its_delivery_time() -> None:
    """deliver_at is the due time as an aware UTC datetime."""
    item = ScheduledMessage(id="1", room="r", author="a", text="t", due_ms=NOW_MS)
    assert item.deliver_at == NOW


# ---- frames -----------------------------------------------------------------------------


def test_schedule_frame_is_parsed_with_either_time_format() -> None:
    """ISO strings and epoch ms integers both parse; client_id is optional."""
    iso = parse_client_event(
        json.dumps(
            {
                "type": "schedule",
                "text": "hi",
                "deliver_at": "2026-11-23T18:00:00Z",
                "client_id": "c",
            }
        )
    )
    assert iso == ScheduleIn(
        type="schedule", text="hi", deliver_at="2026-11-23T18:00:00Z", client_id="c"
    )
    epoch = parse_client_event('{"type": "schedule", "text": "hi", "deliver_at": 1795000000000}')
    assert isinstance(epoch, ScheduleIn)
    assert epoch.deliver_at == 1_795_000_000_000


def test_list_and_cancel_frames_are_parsed() -> None:
    """scheduled.list has no fields; scheduled.cancel names an id."""
    assert parse_client_event('{"type": "scheduled.list"}') == ScheduledListIn(
        type="scheduled.list"
    )
    assert parse_client_event('{"type": "scheduled.cancel", "id": "7"}') == ScheduledCancelIn(
        type="scheduled.cancel", id="7"
    )


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (
            {"type": "schedule", "text": "hi", "deliver_at": "2026-11-23T18:00:00"},
            "invalid_deliver_at",
        ),
        ({"type": "schedule", "text": "hi", "deliver_at": "soon"}, "invalid_deliver_at"),
        ({"type": "schedule", "text": "hi", "deliver_at": 1.5}, "invalid_deliver_at"),
        ({"type": "schedule", "text": "hi", "deliver_at": None}, "invalid_deliver_at"),
        ({"type": "schedule", "text": "hi"}, "invalid_field"),
        ({"type": "schedule", "text": " ", "deliver_at": "now"}, "empty_text"),
        ({"type": "schedule", "deliver_at": "now"}, "empty_text"),
        ({"type": "schedule", "text": "x" * 4001, "deliver_at": "now"}, "text_too_long"),
        ({"type": "schedule", "text": "hi", "deliver_at": "now", "x": 1}, "invalid_field"),
        ({"type": "scheduled.list", "room": "other"}, "invalid_field"),
        ({"type": "scheduled.cancel"}, "invalid_field"),
        ({"type": "scheduled.cancel", "id": 7}, "invalid_field"),
    ],
)
def test_bad_schedule_frames_get_stable_error_codes(event: dict[str, object], code: str) -> None:
    """Bad times, texts and fields map to documented codes; the field is named."""
    with pytest.raises(ProtocolError) as info:
        parse_client_event(json.dumps(event))
    assert info.value.code == code


def test_replies_carry_the_id_and_the_time_in_utc() -> None:
    """`scheduled` and `scheduled.list` encode deliver_at as ISO 8601 UTC."""
    item = ScheduledMessage(id="3", room="r", author="a", text="later", due_ms=NOW_MS + 1)
    reply = json.loads(scheduled_reply(item, client_id="c-1").encode())
    assert reply == {
        "type": "scheduled",
        "id": "3",
        "deliver_at": "2026-11-23T17:00:00.001000Z",
        "client_id": "c-1",
    }
    listing = scheduled_list([item])
    assert isinstance(listing, ScheduledList)
    assert json.loads(listing.encode())["items"] == [
        {"id": "3", "text": "later", "deliver_at": "2026-11-23T17:00:00.001000Z"}
    ]
