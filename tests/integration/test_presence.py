"""Presence in Redis (chat.presence.store): one entry per name, versions, expiry and heartbeats."""

from __future__ import annotations

import asyncio

from django.test import override_settings

from chat.presence import store as presence

SHORT_TTL_MS = 300


async def test_a_name_joins_with_its_first_tab_and_leaves_with_its_last(room: str) -> None:
    """Only the first add and the last remove of a name are changes, each a newer version."""
    joined = await presence.add(room=room, name="ann", conn="tab-1")
    assert joined > 0
    assert await presence.add(room=room, name="ann", conn="tab-2") == 0
    assert await presence.members(room) == (["ann"], 1, joined)
    assert await presence.remove(room=room, name="ann", conn="tab-1") == 0
    left = await presence.remove(room=room, name="ann", conn="tab-2")
    assert left > joined
    assert await presence.members(room) == ([], 0, left)
    assert await presence.remove(room=room, name="ann", conn="tab-2") == 0  # said once only


async def test_members_are_sorted_case_insensitively_and_counted(room: str) -> None:
    """The snapshot lists each name once, in reading order; counts match it."""
    for name, conn in [("bob", "c1"), ("Ann", "c2"), ("carol", "c3"), ("bob", "c4")]:
        await presence.add(room=room, name=name, conn=conn)
    assert (await presence.members(room)).names == ["Ann", "bob", "carol"]
    assert await presence.counts([room, f"{room}-empty"]) == {room: 3, f"{room}-empty": 0}
    assert room in await presence.occupied_rooms(1000)


async def test_a_big_room_lists_some_names_the_asker_among_them_and_counts_all(
    room: str,
) -> None:
    """The snapshot of a room above the limit lists `limit` names, the asker's included."""
    for i in range(30):
        await presence.add(room=room, name=f"n{i:02}", conn=f"c{i}")
    listed = await presence.members(room, limit=5, include="n29")
    assert len(listed.names) == 5 and listed.count == 30
    assert "n29" in listed.names and set(listed.names) <= {f"n{i:02}" for i in range(30)}
    assert "nobody" not in (await presence.members(room, limit=5, include="nobody")).names
    assert len((await presence.members(room, limit=100)).names) == 30


async def test_a_room_that_was_only_counted_is_relisted_once_when_small_again(room: str) -> None:
    """Above the list limit a room is counted; the first check at or below it says so once."""
    for i in range(3):
        await presence.add(room=room, name=f"n{i}", conn=f"c{i}")
    assert await presence.announcing(room, list_max=3) == (3, False)
    await presence.add(room=room, name="n3", conn="c3")
    assert await presence.announcing(room, list_max=3) == (4, False)
    await presence.remove(room=room, name="n3", conn="c3")
    assert await presence.announcing(room, list_max=3) == (3, True)
    assert await presence.announcing(room, list_max=3) == (3, False)


async def test_entries_nobody_refreshes_expire_and_one_sweep_reports_them(room: str) -> None:
    """A dead worker's connection is gone after the TTL; the sweeping heartbeat says so once."""
    with override_settings(CHAT_PRESENCE_TTL_MS=SHORT_TTL_MS):
        await presence.add(room=room, name="ghost", conn="dead-worker-conn")
        await presence.add(room=room, name="alive", conn="live-conn")
        for _ in range(4):  # the live worker keeps refreshing its own connection
            await asyncio.sleep(SHORT_TTL_MS / 3000)
            beat = await presence.heartbeat(room=room, conns=[("alive", "live-conn")])
            if beat.gone:
                break
        assert beat.gone == ["ghost"] and beat.back == [] and beat.version > 0
        assert (await presence.members(room)).names == ["alive"]
        again = await presence.heartbeat(room=room, conns=[("alive", "live-conn")])
        assert again.gone == [] and again.version == 0


async def test_a_connection_swept_while_its_worker_stalled_comes_back(room: str) -> None:
    """A heartbeat that finds its own connection expired re-adds it and reports it back."""
    with override_settings(CHAT_PRESENCE_TTL_MS=SHORT_TTL_MS):
        await presence.add(room=room, name="slow", conn="c1")
        await asyncio.sleep(SHORT_TTL_MS / 1000 + 0.1)
        beat = await presence.heartbeat(room=room, conns=[("slow", "c1")])
        assert beat.back == ["slow"] and beat.gone == []
        assert (await presence.members(room)).names == ["slow"]
