"""A connection's outbox: pending broadcasts leave as batch frames, idle ones alone."""

from __future__ import annotations

import asyncio
import json

import pytest

from chat.realtime.outbox import Outbox, frame_of, split_frames


def event(n: int) -> str:
    return json.dumps({"type": "message", "seq": n, "text": f"m{n}"})


def test_a_single_event_is_its_own_frame() -> None:
    """An idle connection gets the event exactly as it was encoded for everyone."""
    assert frame_of([event(1)]) == event(1)


def test_several_events_form_one_batch_of_the_same_events_in_order() -> None:
    """The batch frame is valid JSON holding the events unchanged, in order."""
    frame = json.loads(frame_of([event(1), event(2), event(3)]))
    assert frame == {"type": "batch", "events": [json.loads(event(n)) for n in (1, 2, 3)]}


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "max_events", "expected"),
    [
        ([10, 10, 10], 100, 2, [[0, 1], [2]]),
        ([10, 10, 10], 25, 10, [[0, 1], [2]]),
        ([50, 10], 20, 10, [[0], [1]]),  # too big alone still travels, alone
        ([5], 1, 1, [[0]]),
        ([], 100, 10, []),
    ],
)
def test_frames_are_cut_by_count_and_size_keeping_order(
    sizes: list[int], max_bytes: int, max_events: int, expected: list[list[int]]
) -> None:
    """No event is dropped or reordered; every frame respects both limits."""
    texts = [str(i) * size for i, size in enumerate(sizes)]
    frames = split_frames(texts, max_bytes=max_bytes, max_events=max_events)
    assert frames == [[texts[i] for i in frame] for frame in expected]


class Recorder:
    """A send that records frames; optionally waits for the test before each one finishes."""

    def __init__(self, *, blocking: bool = False) -> None:
        self.frames: list[str] = []
        self.gate = asyncio.Event()
        if not blocking:
            self.gate.set()

    async def __call__(self, frame: str) -> None:
        self.frames.append(frame)
        await self.gate.wait()

    def events(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for frame in self.frames:
            data = json.loads(frame)
            out.extend(data["events"] if data["type"] == "batch" else [data])
        return out


async def no_overflow() -> None:
    raise AssertionError("must not overflow")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_idle_connection_gets_each_event_alone() -> None:
    """One event at a time: one plain frame each, nothing wrapped in a batch."""
    send = Recorder()
    outbox = Outbox(send, limit_bytes=10_000, on_overflow=no_overflow)
    for n in range(3):
        outbox.push([event(n)])
        await settle()
    assert send.frames == [event(0), event(1), event(2)]


async def test_events_queued_in_one_tick_leave_as_one_batch() -> None:
    """Pushed before the loop turns: one frame with all of them, in order."""
    send = Recorder()
    outbox = Outbox(send, limit_bytes=10_000, on_overflow=no_overflow)
    outbox.push([event(1)])
    outbox.push([event(2), event(3)])
    await settle()
    assert len(send.frames) == 1
    assert [e["seq"] for e in send.events()] == [1, 2, 3]


async def test_events_queued_while_a_send_is_in_flight_follow_in_one_frame() -> None:
    """A send that waits for the socket: what arrives meanwhile goes next, together."""
    send = Recorder(blocking=True)
    outbox = Outbox(send, limit_bytes=10_000, on_overflow=no_overflow)
    outbox.push([event(1)])
    await settle()
    for n in (2, 3, 4):
        outbox.push([event(n)])
    assert outbox.pending == 3
    send.gate.set()
    await settle()
    assert send.frames[0] == event(1)
    assert len(send.frames) == 2
    assert [e["seq"] for e in send.events()] == [1, 2, 3, 4]


async def test_a_backlog_past_the_limit_closes_once_and_queues_nothing_more() -> None:
    """A client that does not read: the overflow callback runs once; pending is dropped."""
    send = Recorder(blocking=True)
    closed: list[bool] = []

    async def overflow() -> None:
        closed.append(True)

    outbox = Outbox(send, limit_bytes=3 * len(event(1)), on_overflow=overflow)
    outbox.push([event(0)])
    await settle()
    for n in range(1, 10):
        outbox.push([event(n)])
    await settle()
    assert closed == [True]
    assert outbox.overflowed and outbox.pending == 0


async def test_a_burst_past_the_limit_reaching_an_idle_connection_is_sent() -> None:
    """Many events in one tick, nothing in flight: the client is not cut off for it."""
    send = Recorder()
    outbox = Outbox(send, limit_bytes=3 * len(event(1)), on_overflow=no_overflow)
    outbox.push([event(n) for n in range(10)])
    await settle()
    assert not outbox.overflowed
    assert [e["seq"] for e in send.events()] == list(range(10))


async def test_a_connection_lost_under_a_send_drops_the_rest_quietly() -> None:
    """The send raises OSError (socket gone): the flush ends, later pushes still work."""
    attempts: list[str] = []

    async def broken(frame: str) -> None:
        attempts.append(frame)
        raise OSError("gone")

    outbox = Outbox(broken, limit_bytes=10_000, on_overflow=no_overflow)
    outbox.push([event(1)])
    await settle()
    outbox.push([event(2)])
    await settle()
    assert attempts == [event(1), event(2)]
    assert outbox.pending == 0
