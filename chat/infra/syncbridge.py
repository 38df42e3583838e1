"""Run the async store from sync code (admin views) on one long-lived event loop.

Clients are per event loop (chat.infra.clients), so a fresh loop per call would open a new
MongoDB client each time; one background loop keeps one client for the whole process.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from chat.infra.clients import close_all

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _bridge_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="syncbridge", daemon=True)
            _thread.start()
        return _loop


def run(coro: Coroutine[Any, Any, T], *, timeout: float = 30.0) -> T:
    """Run `coro` on the bridge loop and wait for its result; for sync code only."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError("syncbridge.run() would block a running event loop; await instead")
    future = asyncio.run_coroutine_threadsafe(coro, _bridge_loop())
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise


def shutdown(timeout: float = 5.0) -> None:
    """Close the bridge loop's clients and stop the loop (end of tests, interpreter exit)."""
    global _loop, _thread
    with _lock:
        loop, thread = _loop, _thread
        _loop = _thread = None
    if loop is None or thread is None:
        return
    try:
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout)
    except TimeoutError:
        pass  # an unreachable server must not hold up the exit; the loop stops anyway
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()


atexit.register(shutdown)
