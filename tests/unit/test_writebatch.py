"""Group commit: concurrent writes share one flush, each caller gets its own outcome."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chat.messages.writebatch import WriteGroups


class Store:
    """A flush that records its groups and can be held open by the test."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, list[int]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def flush(self, key: str, items: list[int]) -> list[int | BaseException]:
        self.groups.append((key, list(items)))
        await self.gate.wait()
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]


async def held_first_flush() -> tuple[Store, WriteGroups[str, int, int], asyncio.Future[int]]:
    """A store whose first flush (of item 1) is in flight until the test opens its gate."""
    store = Store()
    store.gate.clear()
    groups = WriteGroups(store.flush)
    first = asyncio.ensure_future(groups.submit("a", 1))
    await asyncio.sleep(0.01)
    return store, groups, first


async def test_a_lone_write_is_flushed_at_once_by_itself() -> None:
    """Idle: no waiting for company."""
    store = Store()
    groups = WriteGroups(store.flush)
    assert await asyncio.wait_for(groups.submit("a", 1), 1) == 10
    assert store.groups == [("a", [1])]


async def test_writes_arriving_together_share_one_flush_in_submission_order() -> None:
    """Submitted in one tick: one flush, items in the order they were submitted."""
    store = Store()
    groups = WriteGroups(store.flush)
    results = await asyncio.gather(*(groups.submit("a", i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert store.groups == [("a", [0, 1, 2, 3, 4])]


async def test_writes_arriving_during_a_flush_form_the_next_group() -> None:
    """While a flush is in flight, later writes wait and then go together."""
    store, groups, first = await held_first_flush()
    later = [asyncio.ensure_future(groups.submit("a", i)) for i in (2, 3, 4)]
    await asyncio.sleep(0.01)
    assert store.groups == [("a", [1])]
    store.gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, *later), 1) == [10, 20, 30, 40]
    assert store.groups == [("a", [1]), ("a", [2, 3, 4])]


async def test_keys_flush_independently() -> None:
    """A slow room does not hold another room's writes."""
    store = Store()
    groups = WriteGroups(store.flush)
    assert await asyncio.gather(groups.submit("a", 1), groups.submit("b", 2)) == [10, 20]
    assert sorted(store.groups) == [("a", [1]), ("b", [2])]


async def test_each_caller_gets_its_own_failure_only() -> None:
    """One item's error is raised to its caller; the others in the group succeed."""
    store = Store()
    groups = WriteGroups(store.flush)
    results = await asyncio.gather(
        groups.submit("a", 1), groups.submit("a", -1), groups.submit("a", 2), return_exceptions=True
    )
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], ValueError)


async def test_a_failed_flush_fails_every_caller_in_it_and_the_next_group_runs() -> None:
    """An exception from the flush itself reaches all its callers; the key is not stuck."""
    calls = 0

    async def flaky(key: str, items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return items

    groups = WriteGroups(flaky)
    results = await asyncio.gather(
        groups.submit("a", 1), groups.submit("a", 2), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await asyncio.wait_for(groups.submit("a", 3), 1) == 3


async def test_a_caller_that_gave_up_before_its_turn_is_not_written() -> None:
    """Timed out while waiting behind a flush: its item is left out of the next group."""
    store, groups, first = await held_first_flush()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(groups.submit("a", 2), 0.01)
    kept = asyncio.ensure_future(groups.submit("a", 3))
    store.gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, kept), 1) == [10, 30]
    assert store.groups == [("a", [1]), ("a", [3])]


async def test_groups_are_capped() -> None:
    """More waiting than max_group: split into consecutive groups, order kept."""
    store = Store()
    groups = WriteGroups(store.flush, max_group=2)
    assert await asyncio.gather(*(groups.submit("a", i) for i in range(5))) == [
        0,
        10,
        20,
        30,
        40,
    ]
    assert [items for _, items in store.groups] == [[0, 1], [2, 3], [4]]


async def test_then_runs_after_the_callers_have_their_outcomes() -> None:
    """The follow-up (a broadcast) sees the group's outcomes; its callers are answered first."""
    seen: list[tuple[str, list[object], bool]] = []
    store = Store()
    first_caller: asyncio.Future[int] | None = None

    async def then(key: str, outcomes: list[object]) -> None:
        assert first_caller is not None
        await asyncio.sleep(0)  # one turn: enough for an answered caller to resume
        seen.append((key, list(outcomes), first_caller.done()))

    groups = WriteGroups(store.flush, then=then)
    first_caller = asyncio.ensure_future(groups.submit("a", 1))
    second = asyncio.ensure_future(groups.submit("a", 2))
    assert await asyncio.wait_for(asyncio.gather(first_caller, second), 1) == [10, 20]
    await asyncio.sleep(0)
    assert seen == [("a", [10, 20], True)]


async def test_a_failing_then_is_logged_and_the_items_queued_behind_it_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`then` raises for the first group: logged; the group already waiting is written, in
    order, and answered with no further submit to start it."""
    seen: list[list[object]] = []

    async def then(key: str, outcomes: list[object]) -> None:
        seen.append(list(outcomes))
        if len(seen) == 1:
            raise RuntimeError("broadcast broke")

    store = Store()
    store.gate.clear()
    groups = WriteGroups(store.flush, then=then)
    first = asyncio.ensure_future(groups.submit("a", 1))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(groups.submit("a", 2))
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.ERROR, logger="chat.messages.writebatch"):
        store.gate.set()
        assert await asyncio.wait_for(asyncio.gather(first, second), 1) == [10, 20]
    assert store.groups == [("a", [1]), ("a", [2])]
    assert seen == [[10], [20]]
    failures = [r for r in caplog.records if r.name == "chat.messages.writebatch"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert failures[0].exc_info[0] is RuntimeError


async def test_a_flush_answering_too_few_items_leaves_no_caller_waiting() -> None:
    """A flush that drops an outcome: the callers it did not answer get an error, not a hang,
    and the key keeps flushing."""

    async def short(key: str, items: list[int]) -> list[int]:
        return items[:1]

    groups = WriteGroups(short)
    results = await asyncio.wait_for(
        asyncio.gather(groups.submit("a", 1), groups.submit("a", 2), return_exceptions=True), 1
    )
    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert await asyncio.wait_for(groups.submit("a", 3), 1) == 3
