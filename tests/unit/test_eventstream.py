"""The event stream's framing: ids that follow the seq, and a resume from Last-Event-ID."""

from __future__ import annotations

import pytest

from chat.protocol import highest_seq
from chat.server.eventstream import event_lines, resume_query


@pytest.mark.parametrize(
    ("text", "seq"),
    [
        ('{"type":"message","id":"a","seq":7,"text":"x"}', 7),
        ('{"type":"batch","events":[{"type":"message","seq":3},{"type":"message","seq":4}]}', 4),
        ('{"type":"history","messages":[{"seq":9},{"seq":10}],"after_seq":8}', 10),
        ('{"type":"welcome","last_seq":12}', None),
        ('{"type":"typing","name":"ann"}', None),
        # A text that spells a seq is a string: its quotes are escaped.
        ('{"type":"message","seq":2,"text":"{\\"seq\\":99}"}', 2),
    ],
)
def test_the_highest_seq_of_an_encoded_event(text: str, seq: int | None) -> None:
    assert highest_seq(text) == seq


def test_an_event_gets_an_id_only_when_it_raises_the_seq() -> None:
    data, last = event_lines('{"type":"message","seq":5}', 0)
    assert data == b'id: 5\ndata: {"type":"message","seq":5}\n\n' and last == 5
    data, last = event_lines('{"type":"typing","name":"ann"}', 5)
    assert data == b'data: {"type":"typing","name":"ann"}\n\n' and last == 5
    data, last = event_lines('{"type":"message","seq":4}', 5)  # a resend's late broadcast
    assert data.startswith(b"data: ") and last == 5


@pytest.mark.parametrize(
    ("query", "last_event_id", "resumed"),
    [
        (b"name=ann&after_seq=3", "17", b"name=ann&after_seq=17"),
        (b"name=ann", "17", b"name=ann&after_seq=17"),
        (b"name=ann&after_seq=3", None, b"name=ann&after_seq=3"),
        (b"name=ann&after_seq=3", "x1", b"name=ann&after_seq=3"),
    ],
)
def test_a_reconnecting_browser_resumes_from_its_last_event_id(
    query: bytes, last_event_id: str | None, resumed: bytes
) -> None:
    assert resume_query(query, last_event_id) == resumed
