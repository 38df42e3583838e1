"""Concurrent callers of one key share one call; a waiter's timeout cancels no one else's."""

from __future__ import annotations

import asyncio

import pytest

from chat.infra.singleflight import SingleFlight


async def test_callers_of_one_key_share_a_call_and_other_keys_get_their_own() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    calls: list[str] = []
    release = asyncio.Event()

    async def read(key: str) -> str:
        calls.append(key)
        await release.wait()
        return f"{key}{len(calls)}"

    waiting = [asyncio.ensure_future(flights.run(k, lambda k=k: read(k))) for k in "aab"]
    for _ in range(100):  # until both calls have started (bounded)
        if len(calls) == 2:
            break
        await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["a2", "a2", "b2"] and calls == ["a", "b"]
    assert await flights.run("a", lambda: read("a")) == "a3"  # a finished call is forgotten


async def test_a_waiter_that_gives_up_does_not_cancel_the_shared_call() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    release = asyncio.Event()

    async def read() -> str:
        await release.wait()
        return "done"

    patient = asyncio.ensure_future(flights.run("k", read))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(flights.run("k", read), 0.01)
    release.set()
    assert await patient == "done"
