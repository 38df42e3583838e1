"""Reliable delivery under steady load while the stack breaks, on a store of 50,000 messages.

The issue's set-up: 3 senders at 50 msg/s each and 20 receivers on 2 workers, all of them
independent page-like clients (tests/reliable_client.py: resend by client_id, resume by
after_seq, gap fill). A third of the way into the load one fault strikes: a worker
SIGKILLed, a rolling restart, Redis restarted, FerretDB down for 10 s. Each test then checks
test_faults' invariant (every sent message stored once and acknowledged with the stored id
and seq; every receiver holding exactly the stored seqs) and that it holds within a stated
time once the fault is over.

Before any of it the store gets 50,000 messages in other rooms: FerretDB scans the whole
collection for every query by room (explain: SCAN; about 2 s each on that store, and
concurrent ones share the CPU), which is what left resends of stored messages unanswered
and gap fills unsettled until resends and history went by key. A room's first join and
first message go alone, before the others: both read the store (the history tail's fill,
the seq counter's seed).

Each scenario prints the acks per second, the counts and times, and the server's MongoDB
operations meanwhile (from /metrics); with -s that says where a failure spent its time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pymongo.errors import PyMongoError

from tests.e2e.steadyload import (
    ACK_BOUND_S,
    FAULT_OUTAGE_S,
    PAGE_LIKE,
    READ_BOUND_S,
    RESEND_BOUND_S,
    STORE_TIMEOUT_MS,
    TEST_TIMEOUT_S,
    reconnected,
    seed_other_rooms,
    steady_scenario,
    wait_for_quiet_store,
)
from tests.e2e.test_faults import Burst, open_room, stored_messages, worker_pid
from tests.faultstack import FaultStack, fault_stack

pytestmark = [pytest.mark.services, pytest.mark.timeout(TEST_TIMEOUT_S)]


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    """One private stack for the module, its store holding SEEDED messages of other rooms."""
    with fault_stack(env={"CHAT_STORE_TIMEOUT_MS": str(STORE_TIMEOUT_MS)}) as running:
        seed_other_rooms(running)
        running.read_timeout_s = READ_BOUND_S
        yield running


@pytest.fixture
def faults(stack: FaultStack) -> FaultStack:
    """The stack, with anything a previous test broke brought back, and the store quiet."""
    stack.ensure_up()
    print(f"\n({wait_for_quiet_store(stack)})", end="")
    return stack


@pytest.mark.parametrize("count", [2, 20])
async def test_resends_of_stored_client_ids_get_the_original_ack(
    faults: FaultStack, room: str, count: int
) -> None:
    """On the big store, `count` resends of stored client_ids sent at once are each acked
    with the original id and seq within the store timeout."""
    burst = await open_room(faults, room, senders=1, receivers=0, **PAGE_LIKE)
    sender = burst.senders[0]
    try:
        client_ids = [sender.send() for _ in range(count)]
        await sender.wait_acked(timeout=ACK_BOUND_S)
        original = {c: (sender.acks[c]["id"], sender.acks[c]["seq"]) for c in client_ids}
        errors_before = len(sender.errors)
        started = time.monotonic()
        for client_id in client_ids:
            sender.send_duplicate(client_id)

        def unanswered() -> list[str]:
            return [c for c in client_ids if sender.ack_counts.get(c, 0) < 2]

        with contextlib.suppress(TimeoutError):
            await sender.wait_for(lambda: not unanswered(), "resent acks", RESEND_BOUND_S)
        elapsed = time.monotonic() - started
        errors = sender.errors[errors_before:]
        print(
            f"\n[resend_{count}] acked {count - len(unanswered())}/{count} resends "
            f"in {elapsed:.1f}s (bound {RESEND_BOUND_S:.0f}s), errors {errors[:3]}"
        )
        assert not unanswered(), (
            f"{len(unanswered())} of {count} resends unanswered after {RESEND_BOUND_S}s; "
            f"errors {errors[:5]}"
        )
        assert not sender.ack_mismatches, f"different acks: {sender.ack_mismatches[:3]}"
        stored = await stored_messages(burst)
        assert {d["client_id"]: (str(d["_id"]), d["seq"]) for d in stored} == original
    finally:
        await burst.close()


def post_json(url: str, body: dict[str, Any], timeout: float) -> tuple[int, Any]:
    """Status and decoded body of a POST (0 and the error when nothing came back in time)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except TimeoutError as exc:
        return 0, repr(exc)


def test_concurrent_rest_posts_of_a_stored_client_id_return_the_original(
    faults: FaultStack, room: str
) -> None:
    """Two POSTs at once repeating a stored client_id both answer 201 with its id and seq."""
    url = f"{faults.server.http_url}/api/rooms/{room}/messages"
    body = {"text": "posted once", "author": "rester", "client_id": f"rest-{room}"}
    try:
        status, first = post_json(url, body, timeout=ACK_BOUND_S)
        assert status == 201, first
        barrier = threading.Barrier(2, timeout=5)

        def repeat(_: int) -> tuple[int, Any]:
            barrier.wait()
            return post_json(url, body, timeout=RESEND_BOUND_S)

        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(repeat, range(2)))
        elapsed = time.monotonic() - started
        print(f"\n[rest_repeat] {answers} in {elapsed:.1f}s (bound {RESEND_BOUND_S:.0f}s)")
        assert answers == [(201, first)] * 2
        assert elapsed <= RESEND_BOUND_S
        stored = faults.stored_messages(room)
        assert [(str(d["_id"]), d["seq"]) for d in stored] == [(first["id"], first["seq"])]
    finally:
        with contextlib.suppress(PyMongoError):
            faults.delete_room(room)


async def test_steady_load_through_a_killed_worker(faults: FaultStack, room: str) -> None:
    """SIGKILL of a worker under steady load: its clients resume and resend, all acked once."""
    victims: list[int] = []

    async def kill(burst: Burst) -> None:
        victims.append(faults.kill_worker(worker_pid(burst.senders[0].workers[0])))
        await asyncio.to_thread(faults.wait_for_workers)

    def check(burst: Burst) -> list[str]:
        on_victim = [c for c in burst.members if worker_pid(c.workers[0]) in victims]
        return reconnected(on_victim, set(victims))

    await steady_scenario(faults, room, "steady_kill_worker", kill, check)


async def test_steady_load_through_a_rolling_restart(faults: FaultStack, room: str) -> None:
    """Each worker SIGTERMed in turn under steady load (a deploy): every client moves, none lost."""
    stopped: list[int] = []

    async def restart(burst: Burst) -> None:
        stopped.extend(await asyncio.to_thread(faults.rolling_restart))

    def check(burst: Burst) -> list[str]:
        return reconnected(burst.members, set(stopped))

    await steady_scenario(faults, room, "steady_rolling_restart", restart, check)


async def test_steady_load_through_a_redis_restart(faults: FaultStack, room: str) -> None:
    """Redis restarted empty under steady load: seqs continue, lost broadcasts still arrive."""

    async def restart(burst: Burst) -> None:
        await asyncio.to_thread(faults.restart_redis, down_s=1.0)

    await steady_scenario(faults, room, "steady_redis_restart", restart)


async def test_steady_load_through_a_ferretdb_outage(faults: FaultStack, room: str) -> None:
    """FerretDB down for 10 s under steady load: what failed is resent and stored once."""

    async def outage(burst: Burst) -> None:
        # SIGKILL: on SIGTERM FerretDB keeps serving open connections for seconds.
        await asyncio.to_thread(faults.restart_mongo, down_s=FAULT_OUTAGE_S, hard=True)

    await steady_scenario(faults, room, "steady_ferretdb_outage", outage)
