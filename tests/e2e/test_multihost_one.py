"""One app host behind HAProxy, whose config names three servers: the two unused ones must
be out of rotation before the stack is handed over, or leastconn sends them the new
connections (HAProxy counts a server up until its checks fail) and clients get 503s."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from bench.chatbench import events_of, room_url
from tests.support.multihost import multihost_stack

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

CLIENTS = 30


async def joined(url: str) -> bool:
    """Whether a WebSocket through HAProxy opens and gets its room's history."""
    try:
        async with websockets.connect(url, open_timeout=20) as ws:
            async with asyncio.timeout(20):
                while True:
                    if any(e.get("type") == "history" for e in events_of(await ws.recv())):
                        return True
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed):
        return False


async def test_every_join_right_after_start_up_reaches_the_one_host() -> None:
    """A burst of joins as soon as the stack is up all open (none refused with 503), and
    the config's placeholder servers are out of rotation."""
    with multihost_stack(hosts=1) as stack:
        states = stack.haproxy_states()
        room = f"one-{time.monotonic_ns() % 100000}"
        urls = [room_url(stack.ws_base(), room, f"r{i}") for i in range(CLIENTS)]
        results = await asyncio.gather(*(joined(url) for url in urls))
    assert sum(results) == CLIENTS, f"{CLIENTS - sum(results)} of {CLIENTS} joins failed"
    assert states["app1"] == "UP", states
    assert not any(states[name].startswith("UP") for name in ("app2", "app3")), states
