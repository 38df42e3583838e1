"""What a room's history tail can answer (chat/messages/historytail.py), without Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chat.messages.historytail import HOLE, START, after, entries_of_page, holes, newest
from chat.protocol import MessageOut


def message(seq: int) -> MessageOut:
    return MessageOut(
        id=f"id{seq}", seq=seq, room="r", author="ann", text=f"m{seq}", ts=datetime.now(UTC)
    )


def tail(*entries: tuple[int, str]) -> list[tuple[str, float]]:
    """Entries as Redis returns them: (member, score), newest first."""
    return sorted(((member, float(seq)) for seq, member in entries), key=lambda e: -e[1])


def seqs(texts: list[str]) -> list[int]:
    return [json.loads(text)["seq"] for text in texts]


def test_an_unbroken_run_answers_with_the_newest_and_knows_older_ones_exist() -> None:
    answer = newest(tail(*((m.seq, m.encode()) for m in map(message, range(1, 11)))), 3)
    assert answer is not None and seqs(answer.texts) == [8, 9, 10] and answer.has_more


def test_the_room_start_ends_a_short_room_without_more() -> None:
    entries = [(0, START), *((m.seq, m.encode()) for m in map(message, (1, 2)))]
    answer = newest(tail(*entries), 50)
    assert answer is not None and seqs(answer.texts) == [1, 2] and not answer.has_more
    empty = newest(tail((0, START)), 50)
    assert empty is not None and empty.texts == [] and not empty.has_more


def test_holes_are_skipped_and_a_message_outranks_a_hole_of_its_seq() -> None:
    entries = [
        (0, START),
        (1, message(1).encode()),
        (2, f"{HOLE}2"),
        (3, f"{HOLE}3"),
        (3, message(3).encode()),  # a fill marked 3 missing while it was still being stored
    ]
    answer = newest(tail(*entries), 50)
    assert answer is not None and seqs(answer.texts) == [1, 3] and not answer.has_more


def test_a_missing_seq_or_too_few_entries_cannot_answer() -> None:
    gap = [(m.seq, m.encode()) for m in map(message, (1, 2, 4, 5))]  # 3 never reached it
    assert newest(tail(*gap), 3) is None
    assert newest(tail(*gap), 1) is not None  # 5 and 4 suffice, and 4 proves older exist
    assert newest(tail(*((m.seq, m.encode()) for m in map(message, (7, 8)))), 5) is None
    assert newest([], 5) is None


def test_a_store_page_proves_its_messages_the_holes_between_and_the_start() -> None:
    page = [message(2), message(5)]
    entries = entries_of_page(page, has_more=False)
    assert sorted(entries) == sorted(
        [(2, page[0].encode()), (5, page[1].encode()), (3, f"{HOLE}3"), (4, f"{HOLE}4"), (1, START)]
    )
    assert (1, START) not in entries_of_page(page, has_more=True)
    assert entries_of_page([], has_more=False) == [(0, START)]
    answer = newest(tail(*entries), 50)
    assert answer is not None and seqs(answer.texts) == [2, 5] and not answer.has_more


def test_after_answers_with_everything_above_the_cursor_when_the_run_reaches_it() -> None:
    entries = tail(*((m.seq, m.encode()) for m in map(message, [5, 6, 7, 9, 10])), (8, f"{HOLE}8"))
    assert seqs(after(entries, 6) or []) == [7, 9, 10]
    assert after(entries, 10) == [] and after(entries, 12) == []


def test_after_cannot_tell_below_the_tail_or_across_a_missing_seq() -> None:
    entries = tail(*((m.seq, m.encode()) for m in map(message, [5, 6, 8, 9])))
    assert after(entries, 3) is None  # 4 is not in the tail
    assert after(entries, 6) is None  # 7 is missing: a message that never reached it
    assert seqs(after(entries, 7) or []) == [8, 9]
    assert after([], 0) is None


def test_after_stops_at_the_room_start() -> None:
    entries = tail((0, START), *((m.seq, m.encode()) for m in map(message, [1, 2])))
    assert seqs(after(entries, 0) or []) == [1, 2]


def test_holes_mark_seqs_that_never_hold_a_message() -> None:
    entries = tail(*((m.seq, m.encode()) for m in map(message, [3, 5])), *holes([4, 6]))
    assert seqs(after(entries, 2) or []) == [3, 5]
