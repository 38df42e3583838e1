"""The steady-load scenarios of tests/e2e/test_faults_steady.py: the load, its bounds, the
store it runs on, and the checks and report of each scenario."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from chat.messages.documents import MESSAGES, message_key
from tests.e2e.test_faults import (
    Burst,
    assert_delivery,
    open_room,
    report,
    settle_all,
    stored_messages,
    worker_pid,
)
from tests.faultstack import FaultStack
from tests.reliable_client import ClientGaveUp, ReliableClient

# Stack start and seeding (about 10 s) count towards the first test. A scenario that holds
# its bounds takes about 30 s; one that overruns them stops at the first bound it overruns
# (60-100 s here); this is the backstop for a wait the bounds below do not cover.
TEST_TIMEOUT_S = 150

# The deployed default, set explicitly: one scan of this store takes about 2 s, so
# test_faults' 2000 ms would fail a lone duplicate lookup by itself and test a tighter
# budget than the one the issue was reported against.
STORE_TIMEOUT_MS = 5000
STORE_TIMEOUT_S = STORE_TIMEOUT_MS / 1000

SEEDED = 50_000
SEED_ROOMS = 10
SEED_BATCH = 2_000
# 50,000 documents took 3 s to insert on an idle 2-core machine.
SEED_TIMEOUT_S = 60.0

SENDERS = 3
RECEIVERS = 20
PER_SENDER = 250
PACE_S = 0.02
"""50 msg/s per sender: each sends for about 5 s; the fault comes after a third is acked."""
WINDOW = 50
LOAD_S = PER_SENDER * PACE_S
FAULT_OUTAGE_S = 10.0

ACK_BOUND_S = 2 * STORE_TIMEOUT_S + 2
"""Once the fault is over and the last message sent, every message is acked within: one
store timeout for a write the fault caught to come back not_stored, the client's 0.3 s
retry delay, one more store timeout for that retry, and 1 s of reconnect backoff (12 s)."""
SETTLE_BOUND_S = 2 + STORE_TIMEOUT_S + 6 + 2
"""From then every receiver holds every stored seq within: settle's 2 s of patience, one
history answer (at most a store timeout), the 6 s re-check of a seq an answer skipped (the
page's HOLE_RECHECK_MS), and 2 s for 23 clients on 2 cores (15 s)."""
SEND_AFTER_FAULT_S = LOAD_S + ACK_BOUND_S
"""Sending ends within this after the fault: what is left at the pace (less than the whole
load), plus the wait for the window's acks (a full window holds the sender back) (17 s)."""
PAGE_LIKE: dict[str, Any] = {"start_after": None, "request_timeout_s": TEST_TIMEOUT_S}
"""Clients behave as the page: they first join without after_seq (the newest page) and
resume with after_seq on reconnects; a gap request stays asked until it is answered (or
refused, or the socket closes), never asked again because the answer is slow. (Joining with
after_seq=0 costs two reads of the store per client, its max seq and the catch-up, each a
scan here; re-asking after 5 s piles scans on a store that is slow already.)"""
RESEND_BOUND_S = STORE_TIMEOUT_S + 1
"""A resend of a stored client_id is answered within the store timeout (the server's
promise: ack or not_stored by then), plus 1 s for the round trip on a busy machine."""
READ_BOUND_S = 20.0
"""The test's own operations on the store (a read or delete of a room is a scan here: about
2 s when idle), as the socket timeout of its client."""
QUIET_SCAN_S = 4.0
"""A scan of the store takes about 2 s when FerretDB is idle: twice that means it is not."""
QUIET_TIMEOUT_S = 15.0


def seed_other_rooms(stack: FaultStack) -> None:
    """Store SEEDED messages in rooms no test uses, shaped like chat.messages.documents.to_doc."""
    started = time.monotonic()
    ts = datetime.now(UTC).replace(microsecond=0)
    per_room = SEEDED // SEED_ROOMS
    written = 0
    with stack.mongo_client() as client:
        messages = client[stack.mongo_db][MESSAGES]
        for index in range(SEED_ROOMS):
            room = f"seeded-{index}"
            for first in range(1, per_room + 1, SEED_BATCH):
                docs = [
                    {
                        "_id": message_key(room, seq),
                        "room": room,
                        "seq": seq,
                        "client_id": f"seed-{room}-{seq}",
                        "author": "seeder",
                        "account": None,
                        "text": f"seeded message {seq} of {room}",
                        "ts": ts,
                    }
                    for seq in range(first, min(first + SEED_BATCH, per_room + 1))
                ]
                written += len(messages.insert_many(docs, ordered=False).inserted_ids)
                elapsed = time.monotonic() - started
                assert elapsed < SEED_TIMEOUT_S, f"seeded only {written} in {elapsed:.0f}s"
            print(f"seeded {written}/{SEEDED} in {time.monotonic() - started:.1f}s", flush=True)
    assert written == SEEDED


def wait_for_quiet_store(stack: FaultStack) -> str:
    """Wait (bounded) until a scan of the store answers about as fast as on an idle one, so
    what the server still asks for an earlier test's clients does not slow this one; say
    how long the last scan took. Other processes on the machine slow FerretDB as well: past
    the bound the test goes on, on a slow store."""
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    with stack.mongo_client() as client:
        messages = client[stack.mongo_db][MESSAGES]
        while True:
            started = time.monotonic()
            with contextlib.suppress(PyMongoError):  # no answer within READ_BOUND_S
                messages.find_one({"room": "quiet-probe", "client_id": "none"})
            took = time.monotonic() - started
            if took <= QUIET_SCAN_S:
                return f"one scan of the store: {took:.1f}s"
            if time.monotonic() > deadline:
                return f"FerretDB still slow after {QUIET_TIMEOUT_S:.0f}s: a scan took {took:.1f}s"


Fault = Callable[[Burst], Awaitable[None]]
Check = Callable[[Burst], list[str]]


async def sample(count: Callable[[], int], into: list[int]) -> None:
    """Append `count()` every second, until cancelled."""
    while True:
        into.append(count())
        await asyncio.sleep(1)


async def until(ready: Callable[[], bool]) -> None:
    """Poll `ready` (the caller bounds the wait)."""
    while not ready():
        await asyncio.sleep(0.02)


async def steady_load_through(burst: Burst, fault: Fault) -> list[str]:
    """The room's first message, then every sender sends PER_SENDER messages at its pace;
    `fault` strikes once a third of all is acked. Returns what overran its bound (the
    clients keep their records); timings["fault_s"] is set once the fault has run."""
    timings = burst.timings
    # Alone first: the first store of a room seeds its seq counter from the store (a scan).
    burst.senders[0].send()
    try:
        await burst.senders[0].wait_acked(ACK_BOUND_S)
    except TimeoutError as exc:
        return [f"the room's first message was not acked within {ACK_BOUND_S}s: {exc}"]
    started = time.monotonic()
    acked: list[int] = []
    sampler = asyncio.create_task(sample(burst.acked, acked))
    sending = asyncio.gather(
        *(
            sender.send_many(PER_SENDER, window=WINDOW, timeout=TEST_TIMEOUT_S, pace_s=PACE_S)
            for sender in burst.senders
        )
    )
    try:
        threshold = PER_SENDER * len(burst.senders) // 3
        try:
            await asyncio.wait_for(until(lambda: burst.acked() >= threshold), 2 * LOAD_S)
        except TimeoutError:
            return [
                f"steady load without any fault: {burst.acked()} of the {threshold} messages "
                f"due before the fault acked within {2 * LOAD_S}s"
            ]
        timings["fault_at_s"] = time.monotonic() - started
        fault_started = time.monotonic()
        await fault(burst)
        over = time.monotonic()
        timings["fault_s"] = over - fault_started
        try:
            await asyncio.wait_for(sending, SEND_AFTER_FAULT_S)
        except (TimeoutError, ClientGaveUp) as exc:
            await asyncio.to_thread(burst.stack.log_worker_tasks)  # while the stall lasts
            sent = sum(len(sender.sent) for sender in burst.senders)
            return [f"{sent} messages sent {SEND_AFTER_FAULT_S}s after the fault: {exc!r}"]
        sent_at = time.monotonic()
        timings["sent_after_fault_s"] = sent_at - over
        try:
            await asyncio.wait_for(
                asyncio.gather(*(s.wait_acked(2 * ACK_BOUND_S) for s in burst.senders)),
                ACK_BOUND_S,
            )
        except (TimeoutError, ClientGaveUp) as exc:
            await asyncio.to_thread(burst.stack.log_worker_tasks)
            pending = [c for sender in burst.senders for c in sender.pending]
            return [
                f"{len(pending)} messages not acked {ACK_BOUND_S}s after the fault and the "
                f"sending were over ({exc!r}): {pending[:5]}"
            ]
        timings["ack_lag_s"] = time.monotonic() - sent_at
        return []
    finally:
        sending.cancel()
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sending
        per_s = [b - a for a, b in itertools.pairwise(acked)]
        print(f"\nacks per second from the start of the load: {per_s}", end="")


async def read_room(name: str, burst: Burst, problems: list[str]) -> list[dict[str, Any]]:
    """The room's stored messages; when the store does not answer in time, report and fail."""
    try:
        return await stored_messages(burst)
    except PyMongoError as exc:
        problems.append(f"FerretDB did not answer a read of the room within {READ_BOUND_S}s")
        problems.append(f"({exc!r:.200})")
        raise AssertionError("\n".join(problems)) from None


def summary(name: str, burst: Burst, stored: list[dict[str, Any]] | None = None) -> None:
    """Counts and times on one line (shown with -s): after the load, and with the stored
    messages once settled."""
    senders = burst.senders
    timings = " ".join(f"{k}={v:.1f}" for k, v in burst.timings.items())
    print(
        f"\n[{name}] sent={sum(len(s.sent) for s in senders)} "
        f"{'' if stored is None else f'stored={len(stored)} '}acked={burst.acked()} "
        f"resends={sum(s.stats.resends for s in senders)} "
        f"not_stored={sum(s.stats.not_stored for s in senders)} "
        f"reconnects={sum(c.stats.connects - 1 for c in burst.members)} "
        f"first_workers={dict(Counter(c.workers[0] for c in burst.members))} {timings} "
        f"(bounds: sending {SEND_AFTER_FAULT_S:.0f}s after the fault, then acks "
        f"{ACK_BOUND_S:.0f}s, settle {SETTLE_BOUND_S:.0f}s)",
        end="",
    )


def sender_accounting(burst: Burst, stored: list[dict[str, Any]]) -> str:
    """Where the senders' messages stand in the store (the issue counted these)."""
    copies = Counter(doc.get("client_id") for doc in stored)
    sent = {c for sender in burst.senders for c in sender.sent}
    acked = {c for sender in burst.senders for c in sender.acks}
    kept = {c for c in sent if copies[c]}
    return (
        f"of {len(sent)} sent: {len(kept)} stored, {len(kept - acked)} of them never acked; "
        f"{len(sent - kept)} not stored; {sum(copies[c] > 1 for c in sent)} stored twice"
    )


async def settle_and_check(
    name: str, burst: Burst, problems: list[str], check: Check | None = None
) -> None:
    """Settle every client within SETTLE_BOUND_S, report, and fail with whatever went wrong
    (`check` adds the scenario's own findings once everything settled).

    When the load already overran its bounds the store still changes and a settle means
    nothing: then the clients are closed and only the senders' messages are accounted for.
    """
    if problems:
        # Closed first: their resends and gap requests would keep the store busy.
        await asyncio.gather(*(client.close() for client in burst.members))
        stored = await read_room(name, burst, problems)
        problems.append(f"within the bounds, {sender_accounting(burst, stored)}")
        raise AssertionError("\n".join(problems))
    stored = await read_room(name, burst, problems)
    passive: list[bool] = []
    try:
        passive = await asyncio.wait_for(settle_all(burst, stored), SETTLE_BOUND_S)
    except TimeoutError:
        problems.append(f"receivers did not hold every stored seq within {SETTLE_BOUND_S}s")
    final = await read_room(name, burst, problems)
    if len(final) != len(stored):
        problems.append(f"{len(final) - len(stored)} more messages stored while settling")
    report(name, burst, final, passive)
    summary(name, burst, final)
    if check is not None:
        problems += check(burst)
    try:
        assert_delivery(burst, final)
    except AssertionError as exc:
        problems.append(sender_accounting(burst, final))
        problems.append(str(exc))
    assert not problems, "\n".join(problems)


def mongo_ops(stack: FaultStack) -> dict[str, list[float]]:
    """op -> [calls, seconds] of the server's MongoDB operations so far (its /metrics)."""
    ops: dict[str, list[float]] = {}
    try:
        with urllib.request.urlopen(f"{stack.server.http_url}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return ops
    for line in text.splitlines():
        for suffix, index in (("_count", 0), ("_sum", 1)):
            prefix = f'chat_mongo_op_seconds{suffix}{{op="'
            if line.startswith(prefix):
                op, value = line[len(prefix) :].split('"} ')
                ops.setdefault(op, [0.0, 0.0])[index] = float(value)
    return ops


def print_mongo_ops(before: dict[str, list[float]], after: dict[str, list[float]]) -> None:
    """What the server asked MongoDB for meanwhile: calls and the seconds they took."""
    spent = {
        op: (calls - before.get(op, [0.0, 0.0])[0], seconds - before.get(op, [0.0, 0.0])[1])
        for op, (calls, seconds) in after.items()
    }
    shown = ", ".join(f"{op} {n:.0f}x {t:.1f}s" for op, (n, t) in sorted(spent.items()) if n)
    print(
        f"\nserver's MongoDB operations meanwhile: {shown or 'none (metrics unavailable)'}", end=""
    )


async def first_join(stack: FaultStack, room: str) -> None:
    """One client joins the new room and leaves, as someone opening it first would.

    A join reads the room's newest page from its history tail in Redis, and the first one
    reads the store (a scan of it here) to fill the tail: 23 such first joins at once got no
    welcome within 20 s, before any fault.
    """
    client = ReliableClient(stack.ws_base(), room, "first", **PAGE_LIKE)
    try:
        await client.start(timeout=20)
    finally:
        await client.close()


async def steady_scenario(
    stack: FaultStack,
    room: str,
    name: str,
    fault: Fault,
    check: Check | None = None,
) -> None:
    """Open the room, run the load through the fault, then settle, check and report."""
    await first_join(stack, room)
    burst = await open_room(stack, room, senders=SENDERS, receivers=RECEIVERS, **PAGE_LIKE)
    try:
        before = await asyncio.to_thread(mongo_ops, stack)
        problems = await steady_load_through(burst, fault)
        summary(name, burst)
        print_mongo_ops(before, await asyncio.to_thread(mongo_ops, stack))
        if "fault_s" not in burst.timings:
            raise AssertionError("\n".join(problems))
        await settle_and_check(name, burst, problems, check)
    finally:
        with contextlib.suppress(PyMongoError):  # deleting the room is a scan, bounded too
            await burst.close()


def reconnected(clients: list[ReliableClient], avoid: set[int]) -> list[str]:
    """Problems: a client that never reconnected, or still ends on a stopped worker."""
    problems = [f"{c.name} never reconnected: {c.workers}" for c in clients if c.stats.connects < 2]
    problems += [
        f"{c.name} ends on stopped worker {c.workers[-1]}"
        for c in clients
        if worker_pid(c.workers[-1]) in avoid
    ]
    return problems
