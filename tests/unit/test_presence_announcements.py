"""How presence changes are announced (chat/broadcast/events.py): when, and in what detail."""

from __future__ import annotations

import json

from chat.broadcast.events import presence_delay_s, presence_events
from chat.protocol import PresenceJoin, PresenceLeave


def test_the_presence_delay_grows_with_the_members_here_within_bounds() -> None:
    assert presence_delay_s(0) == presence_delay_s(2) == 0.05
    assert presence_delay_s(100) == 0.2
    assert presence_delay_s(1000) == 2.0
    assert presence_delay_s(1_000_000) == 10.0


CHANGES = [
    ("conn-ann", PresenceJoin(name="ann", version=7)),
    ("", PresenceLeave(name="bob", version=9)),
    ("conn-cy", PresenceJoin(name="cy", version=8)),
]


def test_a_room_small_enough_to_list_gets_every_change_with_who_knows_it() -> None:
    events = presence_events(CHANGES, present=3, list_max=3)
    assert [sender for sender, _ in events] == ["conn-ann", "", "conn-cy"]
    assert [json.loads(text)["name"] for _, text in events] == ["ann", "bob", "cy"]


def test_a_room_too_big_to_list_gets_one_count_at_the_newest_version() -> None:
    events = presence_events(CHANGES, present=4, list_max=3)
    assert len(events) == 1 and events[0][0] == ""  # every member gets it, the joiners too
    assert json.loads(events[0][1]) == {"type": "presence.count", "count": 4, "version": 9}
