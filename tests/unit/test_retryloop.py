"""The background loops' retry: backoff, a sleep that stops early, outages and bugs survived."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chat.infra import retryloop

log = logging.getLogger("tests.retryloop")


@pytest.mark.parametrize(
    ("failures", "pause"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (9, 5.0), (5000, 5.0)]
)
def test_backoff_doubles_per_failure_up_to_the_cap(failures: int, pause: float) -> None:
    """Half a second after the first failure, twice the last after each next one, at most 5 s."""
    assert retryloop.backoff(failures) == pause


async def test_sleep_returns_at_once_when_an_event_is_already_set() -> None:
    """A loop told to stop does not start another pause."""
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(retryloop.sleep(60, asyncio.Event(), stop), 0.5)


async def test_sleep_ends_early_when_an_event_is_set_during_it() -> None:
    """Stop (or a wake) set in the middle of a long pause ends it then."""
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, stop.set)
    await asyncio.wait_for(retryloop.sleep(60, stop), 0.5)
    assert stop.is_set()


async def test_sleep_lasts_the_time_when_no_event_is_set() -> None:
    """Nothing set: the whole pause, not less."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await retryloop.sleep(0.05, asyncio.Event())
    assert loop.time() - started >= 0.05


class Steps:
    """A step that raises the scripted exceptions in turn, then succeeds; stops after `runs`."""

    def __init__(self, script: list[Exception | None], stop: asyncio.Event, runs: int) -> None:
        self.script = list(script)
        self.stop = stop
        self.runs = runs
        self.calls = 0

    async def __call__(self) -> float:
        self.calls += 1
        if self.calls >= self.runs:
            self.stop.set()
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return 0


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retryloop, "ERROR_BACKOFF_S", 0.001)


@pytest.mark.usefixtures("quick_backoff")
async def test_an_outage_is_said_once_and_the_recovery_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three outages in a row: one warning, no traceback, then one 'working again'."""
    stop = asyncio.Event()
    step = Steps([RedisConnectionError("down")] * 3, stop, runs=5)
    with caplog.at_level(logging.INFO, logger=log.name):
        await asyncio.wait_for(retryloop.repeat(step, stop=stop, name="slot 1", log=log), 2)
    assert step.calls == 5
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "slot 1: ConnectionError; retrying"),
        (logging.INFO, "slot 1: working again"),
    ]
    assert caplog.records[0].exc_info is None


@pytest.mark.usefixtures("quick_backoff")
async def test_a_bug_is_logged_in_full_every_time_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not an outage: each one logged with its traceback; the next step still runs."""
    stop = asyncio.Event()
    step = Steps([KeyError("x"), KeyError("y")], stop, runs=3)
    with caplog.at_level(logging.INFO, logger=log.name):
        await asyncio.wait_for(
            retryloop.repeat(step, stop=stop, name="sched", log=log, recovered="delivering again"),
            2,
        )
    assert step.calls == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["sched failed", "sched failed"]
    assert all(r.exc_info is not None and r.exc_info[0] is KeyError for r in errors)
    assert caplog.records[-1].getMessage() == "sched: delivering again"


@pytest.mark.usefixtures("quick_backoff")
async def test_an_exception_outside_the_outages_given_counts_as_a_bug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The caller names its outages: a Redis error is a bug to a loop that names others only."""
    stop = asyncio.Event()
    step = Steps([RedisConnectionError("down")], stop, runs=2)
    with caplog.at_level(logging.INFO, logger=log.name):
        await asyncio.wait_for(
            retryloop.repeat(step, stop=stop, name="s", log=log, outages=(LookupError,)), 2
        )
    assert caplog.records[0].levelno == logging.ERROR


async def test_the_pause_a_step_asks_for_ends_early_on_a_wake() -> None:
    """An idle step asks for a long pause; a wake starts the next step at once."""
    stop, wake = asyncio.Event(), asyncio.Event()
    calls = 0

    async def idle() -> float:
        nonlocal calls
        calls += 1
        if calls == 2:
            stop.set()
        else:
            wake.clear()
        return 60

    loop = asyncio.create_task(retryloop.repeat(idle, stop=stop, name="s", log=log, wake=wake))
    await asyncio.sleep(0.02)
    assert calls == 1
    wake.set()
    await asyncio.wait_for(loop, 0.5)
    assert calls == 2


async def test_stop_during_a_backoff_ends_the_loop_then() -> None:
    """A loop waiting out an outage does not make its stop wait for the pause."""
    stop = asyncio.Event()

    async def down() -> float:
        raise RedisConnectionError("down")

    loop = asyncio.create_task(retryloop.repeat(down, stop=stop, name="s", log=log))
    await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(loop, 0.2)


@pytest.mark.usefixtures("quick_backoff")
async def test_until_done_waits_out_outages_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """A start that fails twice for an outage is retried until it works; one warning."""
    calls = 0

    async def action() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RedisConnectionError("down")

    caplog.set_level(logging.WARNING, logger=log.name)
    done = await asyncio.wait_for(
        retryloop.until_done(action, stop=asyncio.Event(), waiting="waits", log=log), 5
    )
    assert done and calls == 3
    assert [r.getMessage() for r in caplog.records] == ["waits: ConnectionError"]


async def test_until_done_gives_up_when_stopped_and_raises_what_is_not_an_outage() -> None:
    stop = asyncio.Event()

    async def outage() -> None:
        stop.set()
        raise OSError("no route")

    stopped = await asyncio.wait_for(
        retryloop.until_done(outage, stop=stop, waiting="w", log=log), 5
    )
    assert stopped is False

    async def bug() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await retryloop.until_done(bug, stop=asyncio.Event(), waiting="w", log=log)
