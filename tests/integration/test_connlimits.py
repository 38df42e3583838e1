"""Per-address connection limits in Redis: counted across workers, nothing leaks."""

from __future__ import annotations

import asyncio
import uuid

from chat.infra.clients import redis
from chat.limits import connlimits


def address() -> str:
    """A client address no other test uses."""
    return f"192.0.2.{uuid.uuid4().hex[:8]}"


async def test_open_connections_are_capped_per_address_and_released_on_close() -> None:
    """The cap holds whichever worker counts; a release frees a place at once."""
    ip = address()
    verdicts = [
        await connlimits.admit_address(f"c{i}", ip, per_address=2, new_per_s=0) for i in range(3)
    ]
    assert verdicts == ["ok", "ok", "too_many_connections"]
    await redis().zrem(connlimits.open_key(ip), "c0")
    assert await connlimits.admit_address("c3", ip, per_address=2, new_per_s=0) == "ok"


async def test_a_dead_workers_connections_expire_with_their_lease() -> None:
    """Nobody renews a dead worker's leases: its connections stop counting, keys expire."""
    ip = address()
    assert await connlimits.admit_address("a", ip, per_address=1, new_per_s=0, lease_ms=300) == "ok"
    assert await connlimits.admit_address("b", ip, per_address=1, new_per_s=0) == (
        "too_many_connections"
    )
    assert 0 < await redis().pttl(connlimits.open_key(ip)) <= 300
    await asyncio.sleep(0.4)
    assert await redis().exists(connlimits.open_key(ip)) == 0
    assert await connlimits.admit_address("b", ip, per_address=1, new_per_s=0) == "ok"


async def test_new_connections_per_second_are_capped_and_the_window_passes() -> None:
    """A burst past the rate is refused (refused tries count too); a second later it is fine."""
    ip = address()
    verdicts = [
        await connlimits.admit_address(f"n{i}", ip, per_address=0, new_per_s=3) for i in range(5)
    ]
    assert verdicts == ["ok"] * 3 + ["connecting_too_fast"] * 2
    assert 0 < await redis().pttl(connlimits.rate_key(ip)) <= 1000
    await asyncio.sleep(1.05)
    assert await connlimits.admit_address("n5", ip, per_address=0, new_per_s=3) == "ok"


async def test_the_worker_cap_refuses_without_asking_redis() -> None:
    """Past the per-worker limit: server_full; a closed connection makes room again."""
    ip = address()
    first = await connlimits.admit("w0", ip, per_worker=1, per_address=0, new_per_s=0)
    second = await connlimits.admit("w1", ip, per_worker=1, per_address=0, new_per_s=0)
    await connlimits.release("w0")
    third = await connlimits.admit("w2", ip, per_worker=1, per_address=0, new_per_s=0)
    await connlimits.release("w2")
    assert (first, second, third) == (None, "server_full", None)
