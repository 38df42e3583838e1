"""The background loops' retry: run one step over and over, wait out outages, survive bugs.

`until_done` is the same for their start (indexes, a consumer group): retried until it works.

The scheduler loop and each job worker slot are such a loop. An outage (Redis, MongoDB, the
network) is said once and waited out with a growing pause; any other exception is a bug,
logged in full, and the loop goes on; the first success after failures says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

ERROR_BACKOFF_S = 0.5
MAX_ERROR_BACKOFF_S = 5.0
OUTAGES: tuple[type[Exception], ...] = (RedisError, PyMongoError, OSError, TimeoutError)

# One unit of work; returns how long to pause before the next one (0: go on at once).
Step = Callable[[], Awaitable[float]]


def backoff(failures: int) -> float:
    """The pause after `failures` failures in a row (1-based): doubling from 0.5 s, capped."""
    return min(MAX_ERROR_BACKOFF_S, ERROR_BACKOFF_S * 2 ** min(failures - 1, 10))


async def sleep(seconds: float, *events: asyncio.Event) -> None:
    """Sleep up to `seconds`, or until any of the events is set."""
    if seconds <= 0 or any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def until_done(
    action: Callable[[], Awaitable[object]],
    *,
    stop: asyncio.Event,
    waiting: str,
    log: logging.Logger,
    outages: tuple[type[Exception], ...] = OUTAGES,
) -> bool:
    """Run `action` until it succeeds, waiting out outages (said once); False if stopped first."""
    failures = 0
    while not stop.is_set():
        try:
            await action()
            return True
        except outages as exc:
            failures += 1
            if failures == 1:
                log.warning("%s: %s", waiting, type(exc).__name__)
            await sleep(backoff(failures), stop)
    return False


async def repeat(
    step: Step,
    *,
    stop: asyncio.Event,
    name: str,
    log: logging.Logger,
    outages: tuple[type[Exception], ...] = OUTAGES,
    recovered: str = "working again",
    wake: asyncio.Event | None = None,
) -> None:
    """Run `step` until `stop` is set; the pause it asks for ends early on `stop` or `wake`."""
    wakers = (stop,) if wake is None else (stop, wake)
    failures = 0
    while not stop.is_set():
        try:
            pause = await step()
        except Exception as exc:
            failures += 1
            if not isinstance(exc, outages):
                log.exception("%s failed", name)
            elif failures == 1:
                log.warning("%s: %s; retrying", name, type(exc).__name__)
            await sleep(backoff(failures), stop)
            continue
        if failures:
            log.info("%s: %s", name, recovered)
        failures = 0
        await sleep(pause, *wakers)
