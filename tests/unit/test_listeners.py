"""What a room's listener remembers for the next poll: an unbroken run of the newest seqs."""

from __future__ import annotations

from chat.protocol import HISTORY_MAX_PAGE
from chat.realtime.listeners import Recent


def message(seq: int) -> str:
    return f'{{"type":"message","id":"{seq:024x}","seq":{seq},"text":"m{seq}"}}'


def test_a_poll_is_answered_from_memory_when_it_reaches_back_far_enough() -> None:
    recent = Recent(size=5)
    recent.remember([message(seq) for seq in range(1, 9)])  # 4..8 kept
    assert recent.after(5) == (8, [message(6), message(7), message(8)])
    assert recent.after(3) == (8, [message(seq) for seq in range(4, 9)])
    assert recent.after(2) == (2, [])  # 3 is forgotten: the store answers
    assert recent.after(8) == (8, [])  # nothing newer: the store is asked, then the wait


def test_a_gap_starts_the_run_anew_and_a_resend_changes_nothing() -> None:
    recent = Recent()
    recent.remember([message(1), message(2)])
    recent.remember([message(2)])  # a resend's second broadcast
    assert recent.after(0) == (2, [message(1), message(2)])
    recent.remember([message(5)])  # 3 and 4 never came: memory cannot vouch for them
    assert recent.after(2) == (2, [])
    assert recent.after(4) == (5, [message(5)])


def test_a_long_absence_gets_a_page_at_most() -> None:
    recent = Recent()
    recent.remember([message(seq) for seq in range(1, 501)])
    last, texts = recent.after(0)
    assert len(texts) == HISTORY_MAX_PAGE and last == HISTORY_MAX_PAGE
    assert texts[0] == message(1)
