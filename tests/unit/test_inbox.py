"""Inbox: a WebSocket's input queue for its one reader."""

from __future__ import annotations

import asyncio

import pytest

from chat.server.inbox import Inbox

WAIT_S = 5


async def test_events_come_out_in_the_order_they_were_put() -> None:
    inbox = Inbox()
    for i in range(3):
        inbox.put_nowait(i)
    assert inbox.qsize() == 3
    assert [await inbox.get() for _ in range(3)] == [0, 1, 2]
    assert inbox.empty()


async def test_a_waiting_reader_wakes_for_the_next_event() -> None:
    inbox = Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait("connect")
    inbox.put_nowait("receive")
    assert await asyncio.wait_for(reader, WAIT_S) == "connect"
    assert await asyncio.wait_for(inbox.get(), WAIT_S) == "receive"


async def test_a_cancelled_get_loses_nothing_and_the_next_get_waits_again() -> None:
    inbox = Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    inbox.put_nowait("after")
    assert await asyncio.wait_for(inbox.get(), WAIT_S) == "after"


async def test_a_second_concurrent_reader_is_refused() -> None:
    inbox = Inbox()
    first = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="another reader"):
        await inbox.get()
    inbox.put_nowait("x")
    assert await asyncio.wait_for(first, WAIT_S) == "x"


async def test_a_never_empty_inbox_drops_taken_events() -> None:
    """Under steady load the reader never drains it; what it took must not pile up."""
    inbox = Inbox()
    inbox.put_nowait(0)
    taken = []
    for i in range(1, 10_000):
        inbox.put_nowait(i)
        taken.append(await inbox.get())
    assert taken == list(range(9_999))
    assert inbox.qsize() == 1
    assert len(inbox._items) < 200
    assert await inbox.get() == 9_999


def test_an_empty_inbox_is_still_true() -> None:
    """daphne reports an HTTP disconnect only `if self.application_queue`."""
    assert Inbox()
