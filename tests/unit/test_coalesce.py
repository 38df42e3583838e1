"""Coalescer (chat.broadcast.coalesce): what is added within a key's delay goes out in one send."""

from __future__ import annotations

import asyncio

from chat.broadcast.coalesce import Coalescer

WAIT_S = 5.0


class Sink:
    """Records each send; `failing` makes the next send raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[int]]] = []
        self.arrived = asyncio.Event()
        self.failing = False

    async def send(self, key: str, items: list[int]) -> None:
        if self.failing:
            self.failing = False
            raise ConnectionError("down")
        self.sent.append((key, items))
        self.arrived.set()


async def test_items_of_one_key_within_its_delay_go_out_together_in_order() -> None:
    sink = Sink()
    groups = Coalescer(sink.send, delay=lambda key: 0.05 if key == "a" else 0.2)
    for i in range(5):
        groups.add("a", i)
    groups.add("b", 9)
    assert sink.sent == [] and not groups.idle
    await asyncio.wait_for(sink.arrived.wait(), WAIT_S)
    assert sink.sent == [("a", [0, 1, 2, 3, 4])]
    groups.add("a", 5)  # a new group for "a"; "b" is still waiting
    async with asyncio.timeout(WAIT_S):
        while len(sink.sent) < 3 or not groups.idle:
            await asyncio.sleep(0.01)
    assert sorted(sink.sent) == [("a", [0, 1, 2, 3, 4]), ("a", [5]), ("b", [9])]


async def test_hurry_sends_what_waits_at_once_and_later_items_without_delay() -> None:
    sink = Sink()
    groups = Coalescer(sink.send, delay=lambda key: 60.0)
    groups.add("a", 1)
    groups.hurry()
    await asyncio.wait_for(sink.arrived.wait(), WAIT_S)
    groups.add("a", 2)
    async with asyncio.timeout(WAIT_S):
        while len(sink.sent) < 2 or not groups.idle:
            await asyncio.sleep(0.01)
    assert sink.sent == [("a", [1]), ("a", [2])]


async def test_a_failed_send_loses_its_group_only() -> None:
    sink = Sink()
    groups = Coalescer(sink.send, delay=lambda key: 0.01)
    sink.failing = True
    groups.add("a", 1)
    async with asyncio.timeout(WAIT_S):
        while not groups.idle or sink.failing:
            await asyncio.sleep(0.01)
    groups.add("a", 2)
    await asyncio.wait_for(sink.arrived.wait(), WAIT_S)
    assert sink.sent == [("a", [2])]
