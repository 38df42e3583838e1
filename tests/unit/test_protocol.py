"""Parsing and validation of client frames, names and rooms."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chat.protocol import (
    MAX_FRAME_BYTES,
    MAX_TEXT,
    Ack,
    HistoryIn,
    MessageIn,
    MessageOut,
    Presence,
    PresenceLeave,
    ProtocolError,
    SearchIn,
    TypingIn,
    group_name,
    parse_after_seq,
    parse_client_event,
    validate_name,
    validate_room,
)


def test_message_event_is_parsed_with_its_client_id() -> None:
    """A well-formed message becomes a MessageIn."""
    event = parse_client_event(json.dumps({"type": "message", "text": "hi", "client_id": "c-1"}))
    assert event == MessageIn(type="message", text="hi", client_id="c-1")


def test_message_without_client_id_is_accepted() -> None:
    """client_id is optional."""
    event = parse_client_event('{"type": "message", "text": "hi"}')
    assert isinstance(event, MessageIn)
    assert event.client_id is None


def test_history_defaults_to_newest_page_of_fifty() -> None:
    """A bare history request asks for the newest 50."""
    event = parse_client_event('{"type": "history"}')
    assert event == HistoryIn(type="history", before_seq=None, limit=50)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("{", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ("[1, 2]", "invalid_event"),
        ('"message"', "invalid_event"),
        ("{}", "unknown_type"),
        ('{"type": "shout", "text": "x"}', "unknown_type"),
        ('{"type": 5}', "unknown_type"),
        ('{"type": "message"}', "empty_text"),
        ('{"type": "message", "text": ""}', "empty_text"),
        ('{"type": "message", "text": "  \\n\\t "}', "empty_text"),
        ('{"type": "message", "text": 5}', "invalid_field"),
        ('{"type": "message", "text": null}', "invalid_field"),
        ('{"type": "message", "text": "x", "extra": 1}', "invalid_field"),
        ('{"type": "message", "text": "x", "client_id": 7}', "invalid_field"),
        ('{"type": "history", "before_seq": 0}', "invalid_field"),
        ('{"type": "history", "before_seq": -3}', "invalid_field"),
        ('{"type": "history", "before_seq": "5"}', "invalid_field"),
        ('{"type": "history", "before_seq": 1.5}', "invalid_field"),
        ('{"type": "history", "before_seq": true}', "invalid_field"),
        ('{"type": "history", "limit": 0}', "invalid_field"),
        ('{"type": "history", "limit": 201}', "invalid_field"),
    ],
)
def test_bad_frames_get_stable_error_codes(frame: str | bytes, code: str) -> None:
    """Every kind of bad input maps to one documented code."""
    with pytest.raises(ProtocolError) as info:
        parse_client_event(frame)
    assert info.value.code == code
    assert info.value.message


def test_text_at_the_limit_is_accepted_and_one_more_is_refused() -> None:
    """The 4,000-character bound is inclusive."""
    ok = parse_client_event(json.dumps({"type": "message", "text": "a" * MAX_TEXT}))
    assert isinstance(ok, MessageIn)
    with pytest.raises(ProtocolError) as info:
        parse_client_event(json.dumps({"type": "message", "text": "a" * (MAX_TEXT + 1)}))
    assert info.value.code == "text_too_long"


def test_frames_over_64_kib_are_refused_before_parsing() -> None:
    """Size is checked on bytes, so multi-byte text counts fully."""
    frame = json.dumps({"type": "message", "text": "é" * MAX_FRAME_BYTES}, ensure_ascii=False)
    with pytest.raises(ProtocolError) as info:
        parse_client_event(frame)
    assert info.value.code == "frame_too_large"


def test_error_message_names_the_field() -> None:
    """A client developer can tell which field was wrong."""
    with pytest.raises(ProtocolError) as info:
        parse_client_event('{"type": "history", "before_seq": "x"}')
    assert info.value.message.startswith("before_seq:")


@pytest.mark.parametrize(
    ("raw", "name"),
    [("alice", "alice"), ("  bob  ", "bob"), ("Zoë 李", "Zoë 李"), ("x" * 32, "x" * 32)],
)
def test_valid_names_are_trimmed(raw: str, name: str) -> None:
    """Names keep their case and inner spaces; outer whitespace goes."""
    assert validate_name(raw) == name


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "x" * 33, "a\nb", "tab\there", "bell\x07", "zw\u200bsp"]
)
def test_invalid_names_are_refused(raw: str | None) -> None:
    """Empty, over 32 characters, or control/format characters."""
    with pytest.raises(ProtocolError) as info:
        validate_name(raw)
    assert info.value.code == "invalid_name"


@pytest.mark.parametrize(
    ("raw", "room"), [("lobby", "lobby"), ("Dev-Team_2", "dev-team_2"), ("a", "a")]
)
def test_valid_rooms_are_lower_cased(raw: str, room: str) -> None:
    """Room names are case-insensitive: /r/Lobby/ is #lobby."""
    assert validate_room(raw) == room


@pytest.mark.parametrize(
    "raw", [None, "", "-lead", "has space", "dots.not.allowed", "ü", "x" * 65, "a/b"]
)
def test_invalid_rooms_are_refused(raw: str | None) -> None:
    """Only letters, digits, '-' and '_', 1-64 long, starting with a letter or digit."""
    with pytest.raises(ProtocolError) as info:
        validate_room(raw)
    assert info.value.code == "invalid_room"


def test_group_name_is_a_valid_channels_group() -> None:
    """Channels allows ASCII letters, digits, hyphens, underscores and periods under 100."""
    name = group_name(validate_room("x" * 64))
    assert len(name) < 100
    assert all(ch.isalnum() or ch in "-_." for ch in name)


def test_outgoing_message_encodes_to_the_documented_shape() -> None:
    """The broadcast carries exactly the documented fields; ts is ISO 8601 UTC."""
    message = MessageOut(
        id="abc",
        seq=7,
        room="lobby",
        author="alice",
        text="<b>x</b>",
        ts=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )
    data = json.loads(message.encode())
    assert data == {
        "type": "message",
        "id": "abc",
        "seq": 7,
        "room": "lobby",
        "author": "alice",
        "account": None,
        "text": "<b>x</b>",
        "ts": "2026-01-02T03:04:05.678000Z",
    }


def test_ack_carries_client_id_id_and_seq() -> None:
    """The sender matches its pending message by client_id."""
    assert json.loads(Ack(client_id="c", id="i", seq=3).encode()) == {
        "type": "ack",
        "client_id": "c",
        "id": "i",
        "seq": 3,
    }


def test_history_after_seq_asks_for_newer_messages() -> None:
    """after_seq may be 0 (everything) and comes back as a cursor."""
    event = parse_client_event('{"type": "history", "after_seq": 0, "limit": 200}')
    assert event == HistoryIn(type="history", after_seq=0, limit=200)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "history", "after_seq": -1}',
        '{"type": "history", "after_seq": "3"}',
        '{"type": "history", "after_seq": 3, "before_seq": 9}',
    ],
)
def test_bad_after_seq_or_both_cursors_are_refused(frame: str) -> None:
    """One cursor at a time, a non-negative integer."""
    with pytest.raises(ProtocolError) as info:
        parse_client_event(frame)
    assert info.value.code == "invalid_field"


@pytest.mark.parametrize(("raw", "value"), [(None, None), ("0", 0), ("120", 120)])
def test_resume_cursor_from_the_url(raw: str | None, value: int | None) -> None:
    """?after_seq=N resumes after N; absent means a fresh join."""
    assert parse_after_seq(raw) == value


@pytest.mark.parametrize("raw", ["", "-1", "1.5", "x", "١٢"])
def test_bad_resume_cursor_is_refused(raw: str) -> None:
    """Only ASCII digits: '١٢' (Arabic-Indic digits) is not a seq."""
    with pytest.raises(ProtocolError) as info:
        parse_after_seq(raw)
    assert info.value.code == "invalid_field"


def test_typing_is_a_bare_event() -> None:
    """`typing` carries nothing but its type; anything more is refused."""
    assert parse_client_event('{"type": "typing"}') == TypingIn(type="typing")
    with pytest.raises(ProtocolError) as info:
        parse_client_event('{"type": "typing", "text": "secret draft"}')
    assert info.value.code == "invalid_field"


def test_search_trims_the_query_and_defaults_to_twenty() -> None:
    """A search keeps q as typed but for outer whitespace; limit 20, no cursor."""
    event = parse_client_event('{"type": "search", "q": "  Deploy.*  "}')
    assert event == SearchIn(type="search", q="Deploy.*", limit=20, before_seq=None)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type": "search"}', "empty_query"),
        ('{"type": "search", "q": "   "}', "empty_query"),
        (json.dumps({"type": "search", "q": "x" * 201}), "query_too_long"),
        ('{"type": "search", "q": "x", "limit": 51}', "invalid_field"),
        ('{"type": "search", "q": "x", "before_seq": 0}', "invalid_field"),
        ('{"type": "history", "around_seq": 0}', "invalid_field"),
        ('{"type": "history", "around_seq": 5, "after_seq": 1}', "invalid_field"),
    ],
)
def test_bad_searches_and_cursors_are_refused(frame: str, code: str) -> None:
    """Searches need a query of 1-200 characters; history takes at most one cursor."""
    with pytest.raises(ProtocolError) as info:
        parse_client_event(frame)
    assert info.value.code == code


def test_presence_events_encode_to_the_documented_shape() -> None:
    """The snapshot and its changes carry the room's presence version."""
    assert json.loads(Presence(members=["a", "b"], count=5, version=3).encode()) == {
        "type": "presence",
        "members": ["a", "b"],
        "count": 5,
        "version": 3,
    }
    assert json.loads(PresenceLeave(name="b", version=4).encode()) == {
        "type": "presence.leave",
        "name": "b",
        "version": 4,
    }
